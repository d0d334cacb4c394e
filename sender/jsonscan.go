package sender

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// The response parser reads a Way2API answer in one pass over its bytes,
// validating the whole body as JSON (RFC 8259) and keeping only the five
// fields the contract names. It replaces three encoding/json passes through
// map[string]json.RawMessage, which cost most of the gap between a send and
// a bare HTTP POST; it allocates only for the text it keeps.
//
// It reads exactly what that decoder read:
//
//   - keys match exactly and case-sensitively, after JSON unescaping ("\u0073uccess"
//     is "success", "Success" is not);
//   - a field of the wrong JSON type is read as absent, and so is null;
//   - of duplicate keys the last wins, as it did in a Go map: each occurrence
//     resets what the earlier one set, so {"data":{…},"data":5} has no data;
//   - strings decode as encoding/json decodes them (each byte of invalid
//     UTF-8, and each unpaired surrogate escape, becomes U+FFFD);
//   - a number in a text field is kept as written;
//   - anything after the top-level object but white space is refused.
//
// Unlike encoding/json, which allows 10 000 levels, it refuses a body nested
// deeper than maxDepth: the documented body nests three deep, and the bound
// keeps the recursion that skips unknown values small.

// maxDepth bounds the nesting of objects and arrays in a response body.
const maxDepth = 64

// Why a body is refused; the texts end up in an [Error]'s notes.
const (
	problemNotObject = "response body is not a JSON object"
	problemTrailing  = "response body has data after the JSON object"
	problemTooDeep   = "response body nests objects or arrays more than 64 deep"
)

// reply is what a response body says, as far as it could be read. Text
// fields are as decoded, not yet masked or cleaned.
type reply struct {
	hasSuccess bool // success was present and a boolean
	success    bool
	message    string
	code       string // data.error_code
	orderID    string // data.order_id
	smsStatus  string // data.result.sms_status
}

// parser walks one JSON text. After a failure, bad says why and i is at the
// end of the text, so that every loop stops at its next check.
type parser struct {
	b     []byte
	i     int
	depth int
	bad   string
}

// parseReply reads a trimmed, non-empty body. problem is "" when the body is
// one JSON object, and otherwise says what is wrong with it; r is then empty.
func parseReply(b []byte) (r reply, problem string) {
	p := parser{b: b}
	if !p.enter('{') {
		return reply{}, problemNotObject
	}
	for first := true; p.more(first); first = false {
		switch string(p.key()) { // compiled without a copy of the key
		case "success":
			r.hasSuccess, r.success = false, false
			start := p.i
			p.skip()
			switch string(p.b[start:p.i]) {
			case "true":
				r.hasSuccess, r.success = true, true
			case "false":
				r.hasSuccess = true
			}
		case "message":
			r.message = p.text()
		case "data":
			r.code, r.orderID, r.smsStatus = "", "", ""
			if !p.enter('{') {
				p.skip()
				break
			}
			for first := true; p.more(first); first = false {
				switch string(p.key()) {
				case "error_code":
					r.code = p.text()
				case "order_id":
					r.orderID = p.text()
				case "result":
					r.smsStatus = ""
					if !p.enter('{') {
						p.skip()
						break
					}
					for first := true; p.more(first); first = false {
						if string(p.key()) == "sms_status" {
							r.smsStatus = p.text()
						} else {
							p.skip()
						}
					}
				default:
					p.skip()
				}
			}
		default:
			p.skip()
		}
	}
	if p.bad != "" {
		return reply{}, p.bad
	}
	p.ws()
	if p.i != len(p.b) {
		return reply{}, problemTrailing
	}
	return r, ""
}

// fail records why the text is refused (the first reason wins) and moves to
// its end.
func (p *parser) fail(why string) {
	if p.bad == "" {
		p.bad = why
	}
	p.i = len(p.b)
}

// ws skips JSON white space.
func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// enter opens an object or array if the value at p.i starts with open,
// counting its depth, and reports whether it did. The caller has skipped
// white space.
func (p *parser) enter(open byte) bool {
	if p.i >= len(p.b) || p.b[p.i] != open {
		return false
	}
	p.i++
	if p.depth++; p.depth > maxDepth {
		p.fail(problemTooDeep)
		return false
	}
	return true
}

// more reports whether the object being read has another member, consuming
// the ',' before it, or the '}' after the last member. first says whether a
// member has been read yet.
func (p *parser) more(first bool) bool {
	p.ws()
	if p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '}':
			p.i++
			p.depth--
			return false
		case c == ',' && !first:
			p.i++
			p.ws()
			return true
		case first:
			return true
		}
	}
	p.fail(problemNotObject)
	return false
}

// key reads a member's key and the ':' after it, leaving p at the value. The
// key is a slice of the text when it needs no unescaping, the usual case.
func (p *parser) key() []byte {
	s, plain := p.str()
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != ':' {
		p.fail(problemNotObject)
		return nil
	}
	p.i++
	p.ws()
	if !plain {
		return unquote(s)
	}
	return s
}

// text reads a value kept as text: a string's value, a number as written
// (an order_id sent as a number is still worth keeping), or "" for any other
// value, which is read as absent.
func (p *parser) text() string {
	if p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s, plain := p.str()
			if !plain {
				s = unquote(s)
			}
			if string(s) == sentStatus {
				return sentStatus // the usual sms_status, without a copy
			}
			return string(s)
		case c == '-' || '0' <= c && c <= '9':
			return string(p.number())
		}
	}
	p.skip()
	return ""
}

// skip reads one value of any type, checking its syntax.
func (p *parser) skip() {
	if p.i >= len(p.b) {
		p.fail(problemNotObject)
		return
	}
	switch c := p.b[p.i]; {
	case c == '{':
		if p.enter('{') {
			for first := true; p.more(first); first = false {
				p.key()
				p.skip()
			}
		}
	case c == '[':
		if !p.enter('[') {
			return
		}
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			p.depth--
			return
		}
		for {
			p.skip()
			p.ws()
			if p.i >= len(p.b) {
				p.fail(problemNotObject)
				return
			}
			if p.b[p.i] == ']' {
				p.i++
				p.depth--
				return
			}
			if p.b[p.i] != ',' {
				p.fail(problemNotObject)
				return
			}
			p.i++
			p.ws()
		}
	case c == '"':
		p.str()
	case c == '-' || '0' <= c && c <= '9':
		p.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return
			}
		}
		p.fail(problemNotObject)
	}
}

// str reads a string at p.i, checking its syntax, and returns its contents
// between the quotes. plain says the contents are ASCII without escapes, so
// that they are the value as they stand.
func (p *parser) str() (s []byte, plain bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		p.fail(problemNotObject)
		return nil, true
	}
	start := p.i + 1
	plain = true
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			p.i = i + 1
			return p.b[start:i], plain
		case c == '\\':
			plain = false
			i++
			if i >= len(p.b) {
				break
			}
			switch p.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				continue
			case 'u':
				if i+4 < len(p.b) && hex4(p.b[i+1:i+5]) >= 0 {
					i += 4
					continue
				}
			}
			p.fail(problemNotObject)
			return nil, true
		case c < ' ':
			p.fail(problemNotObject)
			return nil, true
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	p.fail(problemNotObject)
	return nil, true
}

// number reads a number at p.i, checking its syntax, and returns it as
// written.
func (p *parser) number() []byte {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case !p.digits():
		p.fail(problemNotObject)
		return nil
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if !p.digits() {
			p.fail(problemNotObject)
			return nil
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			p.fail(problemNotObject)
			return nil
		}
	}
	return p.b[start:p.i]
}

// digits skips a run of ASCII digits and reports whether there was one.
func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// hex4 returns the value of four hexadecimal digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote decodes the contents of a string str has checked, as
// encoding/json does: escapes are decoded, a valid surrogate pair of escapes
// becomes one character, and each byte of invalid UTF-8 and each unpaired
// surrogate becomes U+FFFD.
func unquote(s []byte) []byte {
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s
	}
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if d := utf16.DecodeRune(r, hex4(s[i+2:])); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default: // '"', '\\', '/'
				b = append(b, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
	return b
}
