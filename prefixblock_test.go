package sms2fa_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/totp"
)

// pumpingGuard turns the send budgets off — so that only the prefix block
// stands between a bot and the provider — and blocks at 5 judged sends
// under 35 % verified, for an hour.
func pumpingGuard(extra ...sms.Option) sms2fa.Option {
	return sms2fa.WithSMS(append([]sms.Option{sms.WithUserLimit(), sms.WithPhoneLimit(), sms.WithIPLimit(), sms.WithPrefixLimit(6),
		sms.WithGlobalLimit(), sms.WithAutoBlockThreshold(5, 0.35), sms.WithAutoBlockFor(time.Hour)}, extra...)...)
}

// sentTo counts the SMS the fake sender delivered to numbers starting with
// prefix.
func (h *harness) sentTo(prefix string) int {
	n := 0
	for _, m := range h.fake.Messages() {
		if strings.HasPrefix(m.To, prefix) {
			n++
		}
	}
	return n
}

// pumpedNumber is the i-th fresh number of the prefix +91987654.
func pumpedNumber(i int) string { return fmt.Sprintf("+91 98765 4%04d", 1000+i) }

// An attacker with one account enrols fresh numbers of one prefix and never
// enters a code. Once their codes have expired — seven judged sends, with
// alice's the only one verified — the fake sender gets nothing more for that
// prefix — from the attacker, or for a stranger's
// fresh number there — while a user whose number there verified before
// still signs in, and another prefix is untouched.
func TestPrefixBlockStopsPumping(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testPrefixPumping(t, onSQLite(t)) })
	t.Run("Postgres", func(t *testing.T) { testPrefixPumping(t, onPostgres(t)) })
}

func testPrefixPumping(t *testing.T, open opener) {
	h := newHarnessOn(t, open, pumpingGuard())
	h.signIn("alice", alicePhone) // +91987654…: known good from now on
	h.clock.Advance(10 * time.Minute)

	bot := h.client().login("rita")
	for i := range 5 {
		want(t, fmt.Sprintf("enrol fresh number %d", i), bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(i)}}), http.StatusSeeOther, "/2fa")
	}
	// Codes still enterable are not held against the prefix.
	want(t, "a sixth, codes in flight", bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(5)}}), http.StatusSeeOther, "/2fa")
	h.clock.Advance(7 * time.Minute) // every code expired, unverified
	sent := h.sentTo("+9198765")

	r := bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(6)}})
	wantPage(t, "the send after the threshold", r, "Codes to numbers like yours are paused")
	bot.json = true
	r = bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(7)}})
	body := r.decode(t)
	if r.status != http.StatusTooManyRequests || body["error"] != "prefix_blocked" || r.header.Get("Retry-After") != "3600" {
		t.Fatalf("a JSON client: %d %v, Retry-After %q; want 429 prefix_blocked for an hour", r.status, body, r.header.Get("Retry-After"))
	}
	bot.json = false
	r = bot.post("/2fa/resend", nil)
	if h.sentTo("+9198765") != sent {
		t.Fatalf("%d more SMS to the blocked prefix after the threshold (resend: %d)", h.sentTo("+9198765")-sent, r.status)
	}

	// One prefix_blocked event, with the prefix and the figures that
	// decided; refused sends are send_refused with budget prefix_blocked.
	var blocked []sms2fa.Event
	refused := 0
	for _, e := range h.allEvents() {
		switch {
		case e.Kind == sms2fa.EventPrefixBlocked:
			blocked = append(blocked, e)
		case e.Kind == sms2fa.EventSendRefused && e.Budget == "prefix_blocked":
			refused++
		}
	}
	if len(blocked) != 1 || refused < 2 {
		t.Fatalf("events: %d prefix_blocked, %d refusals; want 1 and at least 2", len(blocked), refused)
	}
	b := blocked[0]
	if b.Block.Prefix != "+91987654" || !b.Block.Started || b.Block.Window != time.Hour || b.Block.Sends != 7 ||
		b.Block.Verified != 1 || b.How != "on" || b.Region != "IN" || !b.Until.Equal(h.clock.Now().Truncate(time.Millisecond).Add(time.Hour)) {
		t.Fatalf("prefix_blocked: %+v, block %+v", b, b.Block)
	}
	if !strings.Contains(h.logs.String(), "prefix=+91987654") || !strings.Contains(h.logs.String(), "sends=7") {
		t.Fatalf("the log line does not name the prefix and its figures:\n%s", h.logs.String())
	}
	// A prefix shows a number's first digits, a masked number its last:
	// an event naming a prefix names nothing that would join it to one.
	for _, e := range h.allEvents() {
		if e.Block != nil && (e.Phone != "" || e.UserID != "" || e.IP != "" || e.ChallengeID != "") {
			t.Fatalf("an event names the prefix and something of a user: %+v", e)
		}
		if e.Block == nil && e.Kind != sms2fa.EventPrefixBlocked && strings.Contains(fmt.Sprint(e), "+91987654") {
			t.Fatalf("an event other than prefix_blocked names the prefix: %+v", e)
		}
	}
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "prefix=") && strings.Contains(l, "phone=") {
			t.Fatalf("a log line names the prefix and the masked number: %s", l)
		}
	}

	// A stranger's fresh number in the prefix gets nothing.
	before := h.sent()
	stranger := h.client().login("p07") // +91 98765 43207, never verified
	r = stranger.get("/app/home")
	if h.sent() != before {
		t.Fatalf("a fresh number of the blocked prefix got an SMS (%d)", r.status)
	}
	// alice's number verified before: she still signs in.
	h.signIn("alice", alicePhone)
	if h.sent() != before+1 {
		t.Fatalf("alice got %d SMS, want 1", h.sent()-before)
	}
	// bob's prefix (+91981234) is untouched.
	h.signIn("bob", bobPhone)

	// An operator lifts the block: the next send goes, on every instance.
	was, err := h.guard.UnblockPrefix(context.Background(), "+91987654")
	if err != nil || !was {
		t.Fatalf("UnblockPrefix = %v, %v", was, err)
	}
	other := h.client()
	other.base = h.instance()
	other.login("p07")
	want(t, "after the unblock, another instance", other.get("/app/home"), http.StatusSeeOther, "/2fa")
	if h.sentTo("+919876543207") != 1 || h.eventCount(sms2fa.EventPrefixUnblocked) != 1 {
		t.Fatalf("after the unblock: %d SMS to p07, %d prefix_unblocked", h.sentTo("+919876543207"), h.eventCount(sms2fa.EventPrefixUnblocked))
	}
}

// Monitor: the block is decided and reported, and every send still goes.
func TestPrefixBlockMonitor(t *testing.T) {
	h := newHarness(t, pumpingGuard(sms.WithAutoBlock(contract.PrefixMonitor)))
	bot := h.client().login("rita")
	for i := range 5 {
		want(t, "enrol", bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(i)}}), http.StatusSeeOther, "/2fa")
	}
	h.clock.Advance(7 * time.Minute)
	before := h.sent()
	want(t, "past the threshold", bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(5)}}), http.StatusSeeOther, "/2fa")
	want(t, "and again", bot.post("/2fa/enroll", url.Values{"phone": {pumpedNumber(6)}}), http.StatusSeeOther, "/2fa")
	if h.sent() != before+2 {
		t.Fatalf("monitor refused a send: %d of 2 went", h.sent()-before)
	}
	var blocked, monitored int
	for _, e := range h.allEvents() {
		if e.Kind == sms2fa.EventPrefixBlocked && e.How == "monitor" && e.Block.Started {
			blocked++
		}
		if e.Kind == sms2fa.EventCodeSent && e.How == "monitor" {
			monitored++
		}
	}
	if blocked != 1 || monitored != 2 {
		t.Fatalf("monitor reported %d blocks and %d sends under one; want 1 and 2", blocked, monitored)
	}
}

// A refused "Text me a code instead" offers the app back; the page of a
// blocked sign-in offers recovery codes to a user who has some.
func TestPrefixBlockOffersTheApp(t *testing.T) {
	h, secret := appUser(t, pumpingGuard())
	// alice's SMS sign-in is a month old: her number is no longer known
	// good. (Her app is as good as ever.)
	h.clock.Advance(contract.KnownNumberFor + time.Hour)
	if _, err := h.guard.BlockPrefix(context.Background(), "+91987654", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	c := h.client().login("alice")
	want(t, "guarded", c.get("/app/home"), http.StatusSeeOther, "/2fa")
	before := h.sent()
	r := c.post("/2fa/resend", nil)
	wantPage(t, "text me instead, refused", r, "Codes to numbers like yours are paused")
	if h.sent() != before || !strings.Contains(r.body, `class="use-app"`) || !strings.Contains(r.body, `href="/2fa/recover"`) {
		t.Fatalf("the refusal page: %d SMS; it must offer the app (form.use-app) and recovery:\n%.3000s", h.sent()-before, r.body)
	}
	// The refusal speaks the page's language.
	req := c.postRequest("/2fa/resend", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", "hi")
	hi := c.do(req)
	if msg, _ := hi.decode(t)["message"].(string); hi.status != http.StatusTooManyRequests || !strings.Contains(msg, "आपके जैसे नंबरों पर कोड अभी रोके गए हैं") || !strings.Contains(msg, "घंटे") {
		t.Fatalf("the Hindi refusal: %d %q", hi.status, msg)
	}
	want(t, "back to the app", c.post("/2fa/app", nil), http.StatusSeeOther, "/2fa")
	h.clock.Advance(30 * time.Second)
	want(t, "the app's code", c.verify(totp.Code(secret, h.clock.Now())), http.StatusSeeOther, "/app/home")
}
