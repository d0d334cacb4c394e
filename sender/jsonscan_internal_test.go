package sender

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// decodeStd is the decoder parseReply replaced, kept as the reference it must
// agree with: three encoding/json passes through map[string]json.RawMessage,
// then the same masking and cleaning as decode.
func decodeStd(h http.Header, body []byte, sec secrets) (r reply, problem string) {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(body) > maxResponseBody:
		return r, "too large"
	case len(trimmed) == 0:
		return r, "empty response body"
	case isHTML(h, trimmed):
		return r, "HTML page instead of JSON"
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil || top == nil {
		return r, problemNotObject
	}
	switch string(top["success"]) {
	case "true":
		r.hasSuccess, r.success = true, true
	case "false":
		r.hasSuccess = true
	}
	text := func(raw json.RawMessage) string {
		var s string
		if len(raw) > 0 && json.Unmarshal(raw, &s) == nil {
			return s
		}
		var n json.Number
		if len(raw) > 0 && json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
		return ""
	}
	object := func(raw json.RawMessage) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		return m
	}
	data := object(top["data"])
	r.message = clean(sec.mask(text(top["message"])), maxMessage)
	r.code = clean(sec.mask(text(data["error_code"])), maxField)
	r.orderID = clean(sec.mask(text(data["order_id"])), maxField)
	r.smsStatus = clean(sec.mask(text(object(data["result"])["sms_status"])), maxField)
	return r, ""
}

// nest returns a value nested n arrays deep.
func nest(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestParseReplyEdges(t *testing.T) {
	t.Parallel()
	sent := func(orderID string) reply {
		return reply{hasSuccess: true, success: true, orderID: orderID, smsStatus: "sent"}
	}
	const ok = `"success":true,"data":{"order_id":"X","result":{"sms_status":"sent"}}`
	tests := []struct {
		name    string
		body    string
		want    reply
		problem string // "" when the body must read
		stdDiff bool   // encoding/json reads it differently, on purpose
	}{
		// The documented shapes.
		{name: "documented success", body: docSuccess, want: sent("W2A_SAMPLE_ORDER")},
		{name: "documented failure", body: docFailure, want: reply{hasSuccess: true, message: `content must be either "OTP" or "PIN".`, code: "VALIDATION_ERROR"}},
		{name: "empty object", body: `{}`},
		{name: "white space everywhere", body: " {\t\"success\" :\r\ntrue , \"data\" : { \"order_id\" : \"X\" , \"result\" : { \"sms_status\" : \"sent\" } } } ", want: sent("X")},

		// A field of the wrong type is absent; its neighbours survive.
		{name: "success as a string", body: `{"success":"true","data":{"order_id":"X"}}`, want: reply{orderID: "X"}},
		{name: "success as a number", body: `{"success":1}`},
		{name: "success null", body: `{"success":null}`},
		{name: "success as an object", body: `{"success":{"success":true}}`},
		{name: "message as a number", body: `{"message":-4.5e+1}`, want: reply{message: "-4.5e+1"}},
		{name: "message as an array", body: `{"message":["a"],"success":false}`, want: reply{hasSuccess: true}},
		{name: "message null", body: `{"message":null}`},
		{name: "order_id as a number", body: `{"data":{"order_id":12345}}`, want: reply{orderID: "12345"}},
		{name: "order_id as a boolean", body: `{"data":{"order_id":true,"error_code":"E"}}`, want: reply{code: "E"}},
		{name: "order_id as an object", body: `{"data":{"order_id":{"id":"X"},"error_code":"E"}}`, want: reply{code: "E"}},
		{name: "data as an array", body: `{"success":true,"data":[{"order_id":"X"}]}`, want: reply{hasSuccess: true, success: true}},
		{name: "data as a string", body: `{"data":"order_id"}`},
		{name: "data null", body: `{"data":null,"message":"m"}`, want: reply{message: "m"}},
		{name: "result as a string", body: `{"data":{"order_id":"X","result":"sent"}}`, want: reply{orderID: "X"}},
		{name: "result as an array", body: `{"data":{"result":[{"sms_status":"sent"}]}}`},
		{name: "sms_status as a number", body: `{"data":{"result":{"sms_status":1}}}`, want: reply{smsStatus: "1"}},
		{name: "sms_status as a boolean", body: `{"data":{"result":{"sms_status":true}}}`},

		// Keys match exactly, after unescaping, and only where documented.
		{name: "keys are case-sensitive", body: `{"Success":true,"Message":"m","Data":{"order_id":"X"},"data":{"Order_ID":"Y","RESULT":{"sms_status":"sent"}}}`},
		{name: "keys do not trim", body: `{"success ":true," data":{"order_id":"X"}}`},
		{name: "escaped keys are the same key", body: `{"\u0073uccess":true,"d\u0061ta":{"order\u005fid":"X","result":{"sms_st\u0061tus":"sent"}}}`, want: sent("X")},
		{name: "fields elsewhere do not count", body: `{"x":{"success":true,"data":{"order_id":"X"}},"data":{"x":{"order_id":"Y"},"result":{"order_id":"Z","x":{"sms_status":"sent"}}},"result":{"sms_status":"sent"},"order_id":"W","sms_status":"sent"}`},

		// Unknown values of any shape are skipped, and checked.
		{name: "unknown values skipped", body: `{"a":{"b":[1,{"c":[[],{}]},"s",null,true,false,-0.5e+3,0,1E9]},"e":[],"f":{},` + ok + `,"g":"\"}{]["}`, want: sent("X")},
		{name: "phone and others in result", body: `{"success":true,"data":{"order_id":"X","result":{"phone":"+91","content_type":"OTP","extra":{"sms_status":"no"},"sms_status":"sent"}}}`, want: sent("X")},

		// Duplicate keys: the last wins, as in a Go map.
		{name: "duplicate success, last false", body: `{"success":true,"success":false}`, want: reply{hasSuccess: true}},
		{name: "duplicate success, last of the wrong type", body: `{"success":true,"success":"yes"}`},
		{name: "duplicate message", body: `{"message":"a","message":"b"}`, want: reply{message: "b"}},
		{name: "duplicate message, last null", body: `{"message":"a","message":null}`},
		{name: "duplicate order_id", body: `{"data":{"order_id":"A","order_id":"B"}}`, want: reply{orderID: "B"}},
		{name: "duplicate data replaces it whole", body: `{"data":{"order_id":"A","result":{"sms_status":"sent"}},"data":{"error_code":"E"}}`, want: reply{code: "E"}},
		{name: "duplicate data, last not an object", body: `{"data":{"order_id":"A"},"data":5}`},
		{name: "duplicate result replaces it whole", body: `{"data":{"result":{"sms_status":"sent"},"result":{}}}`},
		{name: "duplicate sms_status", body: `{"data":{"result":{"sms_status":"queued","sms_status":"sent"}}}`, want: reply{smsStatus: "sent"}},

		// Strings decode as encoding/json decodes them.
		{name: "escapes", body: `{"message":"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9"}`, want: reply{message: "a\"b\\c/d e f g h ié"}},
		{name: "surrogate pair", body: `{"message":"\ud83d\ude00"}`, want: reply{message: "😀"}},
		{name: "lone surrogates", body: `{"message":"a\ud800b\udc00c\ud800\u0041"}`, want: reply{message: "a b c A"}},
		{name: "invalid UTF-8, byte by byte", body: "{\"message\":\"a\xff\xfeb\"}", want: reply{message: "a  b"}},
		{name: "raw UTF-8", body: `{"message":"नमस्ते"}`, want: reply{message: "नमस्ते"}},
		{name: "escaped NUL", body: `{"message":"a\u0000b"}`, want: reply{message: "a b"}},

		// Not one JSON object.
		{name: "null", body: `null`, problem: problemNotObject},
		{name: "array", body: `[{}]`, problem: problemNotObject},
		{name: "string", body: `"{}"`, problem: problemNotObject},
		{name: "truncated", body: `{"success":true,"data":{"order_id":"X"`, problem: problemNotObject},
		{name: "unterminated string", body: `{"message":"abc`, problem: problemNotObject},
		{name: "unterminated escape", body: `{"message":"abc\`, problem: problemNotObject},
		{name: "trailing comma in object", body: `{"success":true,}`, problem: problemNotObject},
		{name: "trailing comma in array", body: `{"a":[1,]}`, problem: problemNotObject},
		{name: "leading comma", body: `{,"success":true}`, problem: problemNotObject},
		{name: "missing colon", body: `{"success" true}`, problem: problemNotObject},
		{name: "missing comma", body: `{"a":1 "b":2}`, problem: problemNotObject},
		{name: "single quotes", body: `{'success':true}`, problem: problemNotObject},
		{name: "bare key", body: `{success:true}`, problem: problemNotObject},
		{name: "leading zero", body: `{"a":01}`, problem: problemNotObject},
		{name: "bare minus", body: `{"a":-}`, problem: problemNotObject},
		{name: "dot without digits", body: `{"a":1.}`, problem: problemNotObject},
		{name: "exponent without digits", body: `{"a":1e+}`, problem: problemNotObject},
		{name: "plus sign", body: `{"a":+1}`, problem: problemNotObject},
		{name: "hex number", body: `{"a":0x1}`, problem: problemNotObject},
		{name: "NaN", body: `{"a":NaN}`, problem: problemNotObject},
		{name: "literal cut short", body: `{"a":tru}`, problem: problemNotObject},
		{name: "literal too long", body: `{"a":nulll}`, problem: problemNotObject},
		{name: "literal in capitals", body: `{"success":True}`, problem: problemNotObject},
		{name: "raw control character", body: "{\"message\":\"a\tb\"}", problem: problemNotObject},
		{name: "unknown escape", body: `{"message":"\q"}`, problem: problemNotObject},
		{name: "escaped single quote", body: `{"message":"\'"}`, problem: problemNotObject},
		{name: "short unicode escape", body: `{"message":"\u12"}`, problem: problemNotObject},
		{name: "bad unicode escape", body: `{"message":"\u12g4"}`, problem: problemNotObject},
		{name: "unclosed array", body: `{"a":[1,2}`, problem: problemNotObject},
		{name: "mismatched brackets", body: `{"a":[}]}`, problem: problemNotObject},
		{name: "error in a skipped value", body: `{"x":{"y":[1,2,{"z":tru}]},` + ok + `}`, problem: problemNotObject},

		// Trailing data.
		{name: "second object", body: `{} {}`, problem: problemTrailing},
		{name: "closing brace", body: docSuccess + `}`, problem: problemTrailing},
		{name: "comma", body: `{},`, problem: problemTrailing},
		{name: "garbage", body: `{"success":true}x`, problem: problemTrailing},
		{name: "NUL", body: "{}\x00", problem: problemTrailing},

		// Nesting is bounded; encoding/json allows 10 000 levels, hence stdDiff.
		{name: "nesting at the bound", body: `{"a":` + nest(maxDepth-1) + `,` + ok + `}`, want: sent("X")},
		{name: "nesting past the bound", body: `{"a":` + nest(maxDepth) + `,` + ok + `}`, problem: problemTooDeep, stdDiff: true},
		{name: "objects past the bound", body: strings.Repeat(`{"a":`, maxDepth+1) + `1` + strings.Repeat(`}`, maxDepth+1), problem: problemTooDeep, stdDiff: true},
		{name: "nesting far past the bound", body: `{"a":` + nest(20000) + `}`, problem: problemTooDeep},
		{name: "nesting past the bound, unclosed", body: `{"a":` + strings.Repeat("[", 30000), problem: problemTooDeep},
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, problem := decode(h, []byte(tt.body), secrets{})
			if problem != tt.problem {
				t.Fatalf("problem %q, want %q", problem, tt.problem)
			}
			if got != tt.want {
				t.Errorf("reply %+v, want %+v", got, tt.want)
			}
			std, stdProblem := decodeStd(h, []byte(tt.body), secrets{})
			if agree := (problem == "") == (stdProblem == "") && got == std; agree == tt.stdDiff {
				t.Errorf("encoding/json read %+v, %q; agreement %v, want %v", std, stdProblem, agree, !tt.stdDiff)
			}
		})
	}
}

// TestParseReplyMasksBeforeCutting: the code is masked before the text is
// cleaned and cut, in every field.
func TestParseReplyMasksBeforeCutting(t *testing.T) {
	t.Parallel()
	sec := secrets{key: "k3y-SECRET", code: "528914"}
	body := `{"success":false,"message":"` + strings.Repeat("m", 250) + `528914","data":{"error_code":"` + strings.Repeat("c", 124) + `528914","order_id":"k3y-SECRET528914","result":{"sms_status":"5289\u0031\u0034"}}}`
	r, problem := decode(nil, []byte(body), sec)
	if problem != "" {
		t.Fatal(problem)
	}
	for _, s := range []string{r.message, r.code, r.orderID, r.smsStatus} {
		if strings.Contains(s, "5289") || strings.Contains(s, "SECRET") {
			t.Errorf("field %q keeps a secret or most of one", s)
		}
	}
	if r.orderID != "[REDACTED][code]" || r.smsStatus != "[code]" {
		t.Errorf("order_id %q, sms_status %q: want the masks", r.orderID, r.smsStatus)
	}
}
