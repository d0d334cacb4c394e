package sender_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sender/way2apitest"
)

// benchBody is the JSON the Way2API sender writes for benchMessage.
const benchBody = `{"number":"919876543210","content":"OTP","value":"123456","purpose":"login","share_with":"no_one"}`

var benchMessage = contract.Message{To: "+919876543210", Code: "123456"}

// BenchmarkWay2APISend is one send through the Way2API sender to a local
// stand-in server: validation, encoding, the request, and parsing the answer.
func BenchmarkWay2APISend(b *testing.B) {
	srv := way2apitest.NewServer("bench-key")
	defer srv.Close()
	w, err := sender.NewWay2API("bench-key", sender.WithBaseURL(srv.URL()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Send(ctx, benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorHTTPPost is the floor under BenchmarkWay2APISend: a plain
// net/http POST of the same JSON, with the same headers, to the same server,
// its answer read and dropped.
func BenchmarkFloorHTTPPost(b *testing.B) {
	srv := way2apitest.NewServer("bench-key")
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	body := []byte(benchBody)
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, srv.URL()+way2apitest.Path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer bench-key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
