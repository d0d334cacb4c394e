package way2apitest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa/sender/way2apitest"
)

const key = "test-key"

const valid = `{"value":"5289","number":"919876543210","content":"OTP","purpose":"login","share_with":"no_one"}`

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t *testing.T, s *way2apitest.Server, method, path string, header map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

func good() map[string]string {
	return map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}
}

func TestServerEnforcesContract(t *testing.T) {
	t.Parallel()
	with := func(k, v string) map[string]string { h := good(); h[k] = v; return h }
	without := func(k string) map[string]string { h := good(); delete(h, k); return h }
	tests := []struct {
		name         string
		method, path string
		header       map[string]string
		body         string
		status       int
		code, says   string
	}{
		{"documented sample", "POST", way2apitest.Path, good(), valid, 200, "", ""},
		{"X-API-Key", "POST", way2apitest.Path, map[string]string{"X-API-Key": key, "Content-Type": "application/json"}, valid, 200, "", ""},
		{"charset parameter", "POST", way2apitest.Path, with("Content-Type", "application/json; charset=utf-8"), valid, 200, "", ""},
		{"GET", "GET", way2apitest.Path, good(), "", 404, "NOT_FOUND", ""},
		{"wrong path", "POST", "/api/v1/aws/send_otp", good(), valid, 404, "NOT_FOUND", ""},
		{"query string", "POST", way2apitest.Path + "?x=1", good(), valid, 404, "NOT_FOUND", ""},
		{"no key", "POST", way2apitest.Path, without("Authorization"), valid, 401, "UNAUTHORIZED", ""},
		{"wrong key", "POST", way2apitest.Path, with("Authorization", "Bearer nope"), valid, 401, "UNAUTHORIZED", ""},
		{"key without Bearer", "POST", way2apitest.Path, with("Authorization", key), valid, 401, "UNAUTHORIZED", ""},
		{"wrong X-API-Key", "POST", way2apitest.Path, map[string]string{"X-API-Key": "nope", "Content-Type": "application/json"}, valid, 401, "UNAUTHORIZED", ""},
		{"no Content-Type", "POST", way2apitest.Path, without("Content-Type"), valid, 400, "BAD_REQUEST", "Content-Type"},
		{"form Content-Type", "POST", way2apitest.Path, with("Content-Type", "application/x-www-form-urlencoded"), valid, 400, "BAD_REQUEST", "Content-Type"},
		{"not JSON", "POST", way2apitest.Path, good(), "number=919876543210", 400, "BAD_REQUEST", "JSON"},
		{"array", "POST", way2apitest.Path, good(), "[" + valid + "]", 400, "BAD_REQUEST", "JSON object"},
		{"missing field", "POST", way2apitest.Path, good(), `{"value":"5289","number":"919876543210","content":"OTP","purpose":"login"}`, 400, "BAD_REQUEST", "share_with"},
		{"unknown field", "POST", way2apitest.Path, good(), strings.TrimSuffix(valid, "}") + `,"sender":"ACME"}`, 400, "BAD_REQUEST", "sender"},
		{"duplicate field", "POST", way2apitest.Path, good(), strings.TrimSuffix(valid, "}") + `,"value":"1234"}`, 400, "BAD_REQUEST", "Duplicate"},
		{"number as a number", "POST", way2apitest.Path, good(), strings.Replace(valid, `"919876543210"`, `919876543210`, 1), 400, "BAD_REQUEST", "number must be a string"},
		{"value as null", "POST", way2apitest.Path, good(), strings.Replace(valid, `"5289"`, `null`, 1), 400, "BAD_REQUEST", "value must be a string"},
		{"trailing data", "POST", way2apitest.Path, good(), valid + `{}`, 400, "BAD_REQUEST", "after"},
		{"number with +", "POST", way2apitest.Path, good(), strings.Replace(valid, `"919876543210"`, `"+919876543210"`, 1), 422, "VALIDATION_ERROR", "number"},
		{"number with spaces", "POST", way2apitest.Path, good(), strings.Replace(valid, `"919876543210"`, `"91 98765 43210"`, 1), 422, "VALIDATION_ERROR", "number"},
		{"content SMS", "POST", way2apitest.Path, good(), strings.Replace(valid, `"OTP"`, `"SMS"`, 1), 422, "VALIDATION_ERROR", `content must be either "OTP" or "PIN".`},
		{"value too short", "POST", way2apitest.Path, good(), strings.Replace(valid, `"5289"`, `"528"`, 1), 422, "VALIDATION_ERROR", "value"},
		{"value too long", "POST", way2apitest.Path, good(), strings.Replace(valid, `"5289"`, `"528952895"`, 1), 422, "VALIDATION_ERROR", "value"},
		{"value not digits", "POST", way2apitest.Path, good(), strings.Replace(valid, `"5289"`, `"52a9"`, 1), 422, "VALIDATION_ERROR", "value"},
		{"purpose", "POST", way2apitest.Path, good(), strings.Replace(valid, `"login"`, `"signup"`, 1), 422, "VALIDATION_ERROR", "purpose"},
		{"share_with", "POST", way2apitest.Path, good(), strings.Replace(valid, `"no_one"`, `"everyone"`, 1), 422, "VALIDATION_ERROR", "share_with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := way2apitest.NewServer(key)
			defer s.Close()
			a := post(t, s, tt.method, tt.path, tt.header, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if s.Calls() != 1 {
				t.Errorf("Calls() = %d, want 1", s.Calls())
			}
			if tt.status == 200 {
				if len(s.Requests()) != 1 || a.body["success"] != true {
					t.Errorf("valid request not recorded or not answered with success: %s", a.raw)
				}
				return
			}
			if len(s.Requests()) != 0 {
				t.Errorf("an invalid request was recorded")
			}
			data, _ := a.body["data"].(map[string]any)
			msg, _ := a.body["message"].(string)
			if a.body["success"] != false || data["error_code"] != tt.code || !strings.Contains(msg, tt.says) {
				t.Errorf("answer %s, want the documented failure shape with %s and a message about %q", a.raw, tt.code, tt.says)
			}
		})
	}
}

func TestServerDocumentedSuccess(t *testing.T) {
	t.Parallel()
	s := way2apitest.NewServer(key)
	defer s.Close()
	a := post(t, s, "POST", way2apitest.Path, good(), valid)
	var want map[string]any
	json.Unmarshal([]byte(`{"success":true,"message":"","data":{"order_id":"W2A_TEST_000001","result":{"phone":"+919876543210","content_type":"OTP","purpose":"login","share_with":"no_one","sms_status":"sent"}}}`), &want)
	got, _ := json.Marshal(a.body)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("success body %s, want %s", got, exp)
	}
	r := s.Requests()[0]
	if r.Number != "919876543210" || r.Value != "5289" || r.Content != "OTP" || r.Purpose != "login" || r.ShareWith != "no_one" || string(r.Body) != valid || r.Header.Get("Authorization") != "Bearer "+key {
		t.Errorf("recorded %+v", r)
	}
}

func TestServerScript(t *testing.T) {
	t.Parallel()
	s := way2apitest.NewServer(key)
	defer s.Close()
	s.Script(
		way2apitest.Reply(202),
		way2apitest.RateLimited("7"),
		way2apitest.Reply(503),
		way2apitest.Refused(),
		way2apitest.SMSStatus("queued"),
		way2apitest.HTML(502),
		way2apitest.Empty(200),
		way2apitest.Huge(200, 100<<10),
		way2apitest.FailureWithOrder(402),
		way2apitest.Body(200, "text/plain", "ok"),
	)
	// An invalid request does not consume the script.
	if a := post(t, s, "POST", way2apitest.Path, map[string]string{"Content-Type": "application/json"}, valid); a.status != 401 {
		t.Fatalf("unauthenticated request got %d", a.status)
	}
	check := func(status int, ok func(a answer) bool) {
		t.Helper()
		a := post(t, s, "POST", way2apitest.Path, good(), valid)
		if a.status != status || !ok(a) {
			t.Errorf("got %d %v %.80s, want %d", a.status, a.header, a.raw, status)
		}
	}
	data := func(a answer) map[string]any { d, _ := a.body["data"].(map[string]any); return d }
	check(202, func(a answer) bool { return a.body["success"] == true && data(a)["order_id"] == "W2A_TEST_000001" })
	check(429, func(a answer) bool {
		return a.header.Get("Retry-After") == "7" && data(a)["error_code"] == "RATE_LIMITED"
	})
	check(503, func(a answer) bool { return a.body["success"] == false })
	check(200, func(a answer) bool { return a.body["success"] == false })
	check(200, func(a answer) bool {
		r, _ := data(a)["result"].(map[string]any)
		return a.body["success"] == true && r["sms_status"] == "queued"
	})
	check(502, func(a answer) bool {
		return strings.HasPrefix(a.raw, "<!DOCTYPE html>") && strings.HasPrefix(a.header.Get("Content-Type"), "text/html")
	})
	check(200, func(a answer) bool { return a.raw == "" })
	check(200, func(a answer) bool { return len(a.raw) == 100<<10 })
	check(402, func(a answer) bool {
		return data(a)["error_code"] == "INSUFFICIENT_BALANCE" && data(a)["order_id"] == "W2A_TEST_000009"
	})
	check(200, func(a answer) bool { return a.raw == "ok" && a.header.Get("Content-Type") == "text/plain" })
	check(200, func(a answer) bool { return a.body["success"] == true && data(a)["order_id"] == "W2A_TEST_000011" }) // script done
	if s.Calls() != 12 || len(s.Requests()) != 11 {
		t.Errorf("Calls = %d, Requests = %d; want 12 and 11", s.Calls(), len(s.Requests()))
	}
}

func TestServerHangAndDrop(t *testing.T) {
	t.Parallel()
	s := way2apitest.NewServer(key)
	s.Script(way2apitest.Drop(), way2apitest.Hang())
	do := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+way2apitest.Path, strings.NewReader(valid))
		req.Header = http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := do(t.Context()); err == nil {
		t.Error("a dropped request got an answer")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := do(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a hanging request ended with %v", err)
	}
	if len(s.Requests()) != 2 {
		t.Errorf("%d requests recorded, want 2: both were read", len(s.Requests()))
	}

	// Close releases a request that is still hanging.
	s.Script(way2apitest.Hang())
	done := make(chan error, 1)
	go func() { done <- do(context.Background()) }()
	for len(s.Requests()) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
}

func TestServerConcurrent(t *testing.T) {
	t.Parallel()
	s := way2apitest.NewServer(key)
	defer s.Close()
	for range 10 {
		s.Script(way2apitest.Reply(500))
	}
	const n = 40
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			statuses <- post(t, s, "POST", way2apitest.Path, good(), valid).status
			s.Calls()
			s.Requests()
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[500] != 10 || count[200] != n-10 || s.Calls() != n {
		t.Errorf("statuses %v, calls %d; want 10×500 and %d×200", count, s.Calls(), n-10)
	}
}

func TestNewServerRefusesEmptyKey(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("NewServer(\"\") did not panic")
		}
	}()
	way2apitest.NewServer("")
}
