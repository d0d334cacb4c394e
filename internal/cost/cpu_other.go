//go:build !unix

package cost

import "time"

// cpu is not measured here.
func cpu() (time.Duration, bool) { return 0, false }
