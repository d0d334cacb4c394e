package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sender/way2apitest"
)

// gateway is a whole custom contract.Sender for a Twilio-like HTTP API: one
// method. It wraps contract.ErrMaybeSent where the request may have gone
// through, so that the guard does not chase a slow SMS with a second code.
type gateway struct {
	url    string
	client *http.Client
}

func (g gateway) Send(ctx context.Context, m contract.Message) (contract.Receipt, error) {
	form := url.Values{"To": {m.To}, "Body": {"Your code is " + m.Code}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, strings.NewReader(form.Encode()))
	if err != nil {
		return contract.Receipt{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := g.client.Do(req)
	if err != nil {
		return contract.Receipt{}, fmt.Errorf("gateway: %w: %w", contract.ErrMaybeSent, err)
	}
	defer resp.Body.Close()
	var out struct{ SID, Status string }
	if resp.StatusCode != http.StatusCreated {
		return contract.Receipt{}, fmt.Errorf("gateway: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return contract.Receipt{}, fmt.Errorf("gateway: %w: %w", contract.ErrMaybeSent, err)
	}
	return contract.Receipt{ProviderID: out.SID, Status: out.Status}, nil
}

var _ contract.Sender = gateway{}

// A Sender is one method; this one talks to a Twilio-like gateway.
func Example_customSender() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"sid":"SM123","status":"queued"}`)
	}))
	defer srv.Close()

	var s contract.Sender = gateway{url: srv.URL, client: srv.Client()}
	rec, err := s.Send(context.Background(), contract.Message{To: "+919876543210", Code: "482913"})
	fmt.Println(rec.ProviderID, rec.Status, err)
	// Output: SM123 queued <nil>
}

func ExampleNewWay2API() {
	// The stand-in server plays Way2API; in production, leave out WithBaseURL.
	srv := way2apitest.NewServer("test-key")
	defer srv.Close()

	w, err := sender.NewWay2API("test-key", sender.WithBaseURL(srv.URL()), sender.WithPurpose("two_factor_auth"))
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := w.Send(context.Background(), contract.Message{To: "+919876543210", Code: "482913"})
	fmt.Println(rec.ProviderID, rec.Status, err)
	fmt.Println(srv.Requests()[0].Number, srv.Requests()[0].Purpose)
	// Output:
	// W2A_TEST_000001 sent <nil>
	// 919876543210 two_factor_auth
}

func ExampleFake() {
	f := sender.NewFake()
	f.Send(context.Background(), contract.Message{To: "+919876543210", Code: "482913"})

	m, _ := f.Last("+919876543210")
	fmt.Println(f.Count(), m.Code)
	// Output: 1 482913
}

func ExampleConsole() {
	c := sender.NewConsole(nil) // os.Stderr
	c.Send(context.Background(), contract.Message{To: "+919876543210", Code: "482913"})
	// Prints to stderr:
	// *** sms2fa DEVELOPMENT ONLY — not for production *** OTP 482913 for +91 ••••••3210 (purpose login)
}
