// Package mark is the compact, signed token a browser carries once it has
// completed the second factor: it names a grant and says when the guard last
// confirmed that grant live. It is a codec and nothing else — encoding,
// signing and checking — so it can be fuzzed and benchmarked alone.
//
// A mark is bound to one audience (the guard that made it), one user and one
// sign-in without carrying any of them: the MAC covers them, so a mark
// copied to another user's browser, kept past a new sign-in, or shown to
// another guard keyed with the same secret, does not verify. It carries no
// personal data: a random grant ID and a time.
//
// Wire form: hex of version (1 byte) ‖ grant ID (16 bytes) ‖ confirmed-at
// (Unix seconds, 8 bytes, big-endian) ‖ HMAC-SHA256 truncated to 16 bytes
// over all of that, the audience, the user ID and the sign-in. 82
// characters.
package mark

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"
)

const (
	version = 1
	idLen   = 16
	macLen  = 16 // 128 bits: forging one is 2^128 guesses
	rawLen  = 1 + idLen + 8 + macLen
	// Len is the length of an encoded mark.
	Len = 2 * rawLen
)

// Mark is what a mark says.
type Mark struct {
	Grant [idLen]byte // the grant's random ID
	At    int64       // when the guard last confirmed the grant live, Unix seconds by the guard's clock
}

// Codec signs and checks marks with one key for one audience. It is safe
// for concurrent use.
type Codec struct {
	pool sync.Pool // *signer
}

// signer is one HMAC with scratch space, pooled so that checking a mark
// allocates nothing.
type signer struct {
	h   hash.Hash
	sum [sha256.Size]byte
	raw [rawLen]byte
	msg []byte // what is MACed; grows to fit the longest user and sign-in seen
	aud []byte // the codec's audience, length first
}

// New returns a codec keyed with key (a key of its own: see the guard's key
// derivation) whose marks verify only for audience: the guard's name, so
// that two guards sharing a secret never accept each other's marks.
func New(key []byte, audience string) *Codec {
	k := append([]byte(nil), key...)
	aud := binary.BigEndian.AppendUint32(nil, uint32(len(audience)))
	aud = append(aud, audience...)
	c := &Codec{}
	c.pool.New = func() any { return &signer{h: hmac.New(sha256.New, k), aud: aud} }
	return c
}

// sign computes the MAC of s.raw's body for user and login into s.sum.
func (s *signer) sign(user, login string) []byte {
	s.msg = append(s.msg[:0], s.raw[:rawLen-macLen]...)
	s.msg = append(s.msg, s.aud...)
	// Each length first, so that ("ab", "c") and ("a", "bc") differ.
	s.msg = binary.BigEndian.AppendUint32(s.msg, uint32(len(user)))
	s.msg = append(s.msg, user...)
	s.msg = append(s.msg, login...)
	s.h.Reset()
	s.h.Write(s.msg)
	return s.h.Sum(s.sum[:0])[:macLen]
}

// Encode returns m signed for user and login.
func (c *Codec) Encode(m Mark, user, login string) string {
	s := c.pool.Get().(*signer)
	defer c.pool.Put(s)
	s.raw[0] = version
	copy(s.raw[1:], m.Grant[:])
	binary.BigEndian.PutUint64(s.raw[1+idLen:], uint64(m.At))
	copy(s.raw[rawLen-macLen:], s.sign(user, login))
	var out [Len]byte
	hex.Encode(out[:], s.raw[:])
	return string(out[:])
}

// Decode checks v and returns the mark it carries, if v is a mark this codec
// signed for user and login. Anything else — another user's mark, a mark of
// an earlier sign-in, an edited or truncated one — is false. The MAC is
// compared in constant time.
func (c *Codec) Decode(v string, user, login string) (Mark, bool) {
	if len(v) != Len {
		return Mark{}, false
	}
	s := c.pool.Get().(*signer)
	defer c.pool.Put(s)
	for i := range rawLen {
		hi, ok1 := unhex(v[2*i])
		lo, ok2 := unhex(v[2*i+1])
		if !ok1 || !ok2 {
			return Mark{}, false
		}
		s.raw[i] = hi<<4 | lo
	}
	if s.raw[0] != version {
		return Mark{}, false
	}
	var got [macLen]byte
	copy(got[:], s.raw[rawLen-macLen:])
	if !hmac.Equal(got[:], s.sign(user, login)) {
		return Mark{}, false
	}
	var m Mark
	copy(m.Grant[:], s.raw[1:])
	m.At = int64(binary.BigEndian.Uint64(s.raw[1+idLen:]))
	return m, true
}

// unhex reads one lower-case hex digit: the encoder writes no other.
func unhex(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	}
	return 0, false
}
