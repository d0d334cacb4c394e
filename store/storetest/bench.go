package storetest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/internal/cost"
	"github.com/sms2fa/sms2fa/store"
)

// TOTPUsers gives b.N users of s an authenticator each, "user-0" on, with
// the sealed secret "sealed" and step 100 used.
func TOTPUsers(b *testing.B, s *store.SQL) {
	b.Helper()
	for i := range b.N {
		if _, err := s.SetTOTP(context.Background(), fmt.Sprintf("user-%d", i), []byte("sealed"), 100, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchUseTOTP measures a right authenticator code's store step on s, each
// iteration another user's (set up before the timer): the step claimed, the
// secret checked and the grant written in one store operation — all a
// sign-in asks of the store, the guard carrying the sealed secret its page
// read.
func BenchUseTOTP(b *testing.B, s *store.SQL) {
	ctx := context.Background()
	TOTPUsers(b, s)
	pol := contract.DefaultPolicy()
	defer cost.Start(b)()
	b.ResetTimer()
	for i := range b.N {
		user := fmt.Sprintf("user-%d", i)
		g := contract.GrantParams{ID: "g-" + user, How: "totp", Lifetime: time.Hour}
		use := contract.TOTPUse{Step: 101, Sealed: []byte("sealed"), Window: math.MaxInt32}
		if gr, err := s.UseTOTP(ctx, user, use, contract.VerifyParams{Policy: pol, Grant: g}); err != nil || gr.ID == "" {
			b.Fatalf("use: %v", err)
		}
	}
}
