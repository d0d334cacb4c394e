package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RFC 6238 with the parameters every authenticator app reads by default:
// HMAC-SHA1, 6 digits, 30-second steps counted from the Unix epoch.
const (
	digits = 6
	period = 30 // seconds
)

// stepAt is the time step t falls in.
func stepAt(t time.Time) int64 { return t.Unix() / period }

// code is the RFC 4226 HOTP value of secret at counter, n digits long,
// zero-padded: HMAC-SHA1 of the counter, dynamically truncated (§5.3).
func code(secret []byte, counter int64, n int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	h := hmac.New(sha1.New, secret)
	h.Write(msg[:])
	sum := h.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range n {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(v%mod), 10)
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// match finds the step, within window steps either side of now, whose code
// is typed (already normalized to digits), among the steps after lastUsed:
// when one code matches two steps, the latest wins, so that the step
// claimed is as late as the code allows. Every candidate is compared in
// constant time, and all of them are computed whatever matches, so the
// time taken says nothing of which step matched.
func match(secret []byte, typed string, now time.Time, window int, lastUsed int64) (int64, bool) {
	cur := stepAt(now)
	var (
		found int64
		ok    int
	)
	for s := cur - int64(window); s <= cur+int64(window); s++ {
		eq := subtle.ConstantTimeCompare([]byte(code(secret, s, digits)), []byte(typed))
		if eq == 1 && s > lastUsed {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}

// Code is the code an authenticator app with secret shows at t: for tests
// and tools that play the user's phone (a browser test, a load test). The
// guard never needs it.
func Code(secret []byte, t time.Time) string { return code(secret, stepAt(t), digits) }

// Decode reads a secret as [Encode] writes it, or as an otpauth:// URI
// carries it: base32, any case, spaces and padding ignored.
func Decode(key string) ([]byte, error) {
	k := strings.ToUpper(strings.Join(strings.Fields(key), ""))
	s, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(k, "="))
	if err != nil {
		return nil, fmt.Errorf("sms2fa: reading a TOTP key: %w", err)
	}
	return s, nil
}
