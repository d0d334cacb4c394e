// Package cost measures for the benchmarks what an operation costs this
// process — its CPU time, user and system — which, unlike wall time, does
// not swing with the disk's fsync speed or the database server's share of
// the machine.
package cost

import (
	"testing"
)

// Start begins measuring the process's CPU time and returns what ends the
// measure and reports it on b as cpu-µs/op. Call it after the setup, just
// before the timed loop. Where the platform does not give the figure,
// nothing is reported.
func Start(b *testing.B) (stop func()) {
	start, ok := cpu()
	return func() {
		end, _ := cpu()
		if ok && b.N > 0 {
			b.ReportMetric(float64((end-start).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
}
