package sender_test

import (
	"errors"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
)

// TestWay2APISendsTheMessagesPurposeAndContent: the guard chooses a purpose
// and content per flow, and the sender must send exactly those, whatever its
// own defaults say.
func TestWay2APISendsTheMessagesPurposeAndContent(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w, _ := newSender(t, srv, sender.WithPurpose("login"), sender.WithContent(contract.ContentOTP))
	m := message()
	m.Purpose, m.Content = "transaction", contract.ContentPIN
	if err := w.CheckMessage(m); err != nil {
		t.Fatalf("CheckMessage: %v", err)
	}
	if _, err := w.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Purpose != "transaction" || reqs[0].Content != "PIN" {
		t.Fatalf("requests %+v, want one with purpose transaction and content PIN", reqs)
	}
}

// TestWay2APIPurposePerFlow sends each flow's purpose with each content
// through senders with different defaults: a field the message sets is sent
// as set, an empty one gets the sender's default.
func TestWay2APIPurposePerFlow(t *testing.T) {
	t.Parallel()
	flows := []string{"login", "transaction", "account_verification", "profile_update", ""}
	contents := []contract.Content{contract.ContentOTP, contract.ContentPIN, ""}
	defaults := []struct {
		content contract.Content
		purpose string
	}{{contract.ContentOTP, "login"}, {contract.ContentPIN, "withdrawal"}}
	for _, d := range defaults {
		srv := newServer(t)
		w, _ := newSender(t, srv, sender.WithContent(d.content), sender.WithPurpose(d.purpose))
		var want []contract.Message
		for _, p := range flows {
			for _, c := range contents {
				m := message()
				m.Purpose, m.Content = p, c
				if err := w.CheckMessage(m); err != nil {
					t.Errorf("defaults %v/%s: CheckMessage(%q, %q) = %v", d.content, d.purpose, p, c, err)
				}
				if _, err := w.Send(t.Context(), m); err != nil {
					t.Fatalf("defaults %v/%s: Send(%q, %q) = %v", d.content, d.purpose, p, c, err)
				}
				if m.Purpose == "" {
					m.Purpose = d.purpose
				}
				if m.Content == "" {
					m.Content = d.content
				}
				want = append(want, m)
			}
		}
		reqs := srv.Requests()
		if len(reqs) != len(want) {
			t.Fatalf("%d requests, want %d", len(reqs), len(want))
		}
		for i, r := range reqs {
			if r.Purpose != want[i].Purpose || r.Content != string(want[i].Content) {
				t.Errorf("defaults %v/%s, request %d: sent %s/%s, want %s/%s",
					d.content, d.purpose, i, r.Content, r.Purpose, want[i].Content, want[i].Purpose)
			}
		}
	}
}

// TestWay2APICheckMessageAgreesWithSend: for any purpose and content, valid
// or not, CheckMessage refuses exactly what Send refuses before the network,
// with the same words, and a message's invalid field is never papered over
// by a valid default.
func TestWay2APICheckMessageAgreesWithSend(t *testing.T) {
	t.Parallel()
	purposes := []string{"", "login", "transaction", "account_verification", "profile_update", "Login", "signup", " login"}
	contents := []contract.Content{"", contract.ContentOTP, contract.ContentPIN, "otp", "SMS"}
	srv := newServer(t)
	w, _ := newSender(t, srv, sender.WithPurpose("login"), sender.WithContent(contract.ContentOTP))
	for _, p := range purposes {
		for _, c := range contents {
			m := message()
			m.Purpose, m.Content = p, c
			valid := (p == "" || p == "login" || p == "transaction" || p == "account_verification" || p == "profile_update") &&
				(c == "" || c == contract.ContentOTP || c == contract.ContentPIN)
			calls := srv.Calls()
			cerr := w.CheckMessage(m)
			_, serr := w.Send(t.Context(), m)
			switch {
			case valid && (cerr != nil || serr != nil):
				t.Errorf("purpose %q content %q: CheckMessage = %v, Send = %v; want both to accept", p, c, cerr, serr)
			case !valid && (!errors.Is(cerr, sender.ErrInvalidMessage) || !errors.Is(serr, sender.ErrInvalidMessage)):
				t.Errorf("purpose %q content %q: CheckMessage = %v, Send = %v; want both ErrInvalidMessage", p, c, cerr, serr)
			case !valid && cerr.Error() != serr.Error():
				t.Errorf("purpose %q content %q: CheckMessage says %q, Send says %q", p, c, cerr, serr)
			case !valid && srv.Calls() != calls:
				t.Errorf("purpose %q content %q: an invalid message reached the server", p, c)
			}
		}
	}
}
