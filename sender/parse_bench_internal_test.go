package sender

import (
	"net/http"
	"testing"
	"time"
)

func BenchmarkParseResponse(b *testing.B) {
	body := []byte(`{"success": true, "message": "", "data": {"order_id": "W2A_SAMPLE_ORDER", "result": {"phone": "+919876543210", "content_type": "OTP", "purpose": "login", "share_with": "no_one", "sms_status": "sent"}}}`)
	h := http.Header{"Content-Type": {"application/json"}}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, e := parseResponse(200, h, body, now, secrets{}); e != nil {
			b.Fatal(e)
		}
	}
}
