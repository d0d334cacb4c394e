package sms2fa_test

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"

	"github.com/sms2fa/sms2fa"
	"github.com/sms2fa/sms2fa/contract"
	"github.com/sms2fa/sms2fa/device"
	"github.com/sms2fa/sms2fa/ginguard"
	"github.com/sms2fa/sms2fa/phone"
	"github.com/sms2fa/sms2fa/recovery"
	"github.com/sms2fa/sms2fa/sender"
	"github.com/sms2fa/sms2fa/sender/way2apitest"
	"github.com/sms2fa/sms2fa/sms"
	"github.com/sms2fa/sms2fa/templates"
	"github.com/sms2fa/sms2fa/totp"
)

// The secrets TestFormattingMasksSecrets plants, and the forms in which a
// leak of them would show.
const (
	leakCode     = "493817"
	leakNumber   = "+919876543210"
	leakNational = "9876543210"
)

var leakMAC = []byte{0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe}

// leakSecret is the sample guard's secret, and leakKey the code key it
// derives from it (labelCode in code.go): a guard holds the key.
var (
	leakSecret = []byte(leakCode + leakNational + leakCode + leakNational)
	leakKey    = func() []byte {
		k, err := hkdf.Key(sha256.New, leakSecret, nil, "sms2fa v1 code MAC", sha256.Size)
		if err != nil {
			panic(err)
		}
		return k
	}()
)

// leaks returns what of the planted secrets out shows: the code, the
// national number, either in hexadecimal (%x of a string field), the MAC in
// hexadecimal, decimal (%d of a []byte) or base64 (JSON).
func leaks(out string) []string {
	lower := strings.ToLower(out)
	var found []string
	for _, s := range []string{
		leakCode, leakNational,
		hex.EncodeToString([]byte(leakCode)), hex.EncodeToString([]byte(leakNational)),
		hex.EncodeToString(leakMAC), strings.Trim(fmt.Sprint(leakMAC), "[]"),
		strings.ToLower(base64.StdEncoding.EncodeToString(leakMAC)),
		hex.EncodeToString(leakKey), strings.Trim(fmt.Sprint(leakKey[:8]), "[]"),
		strings.ToLower(base64.StdEncoding.EncodeToString(leakKey)),
	} {
		if strings.Contains(lower, s) {
			found = append(found, s)
		}
	}
	return found
}

// exempt names the types the parser flags whose flagged fields hold no
// secret of ours, and why.
var exempt = map[string]string{
	"sender.Error": "Code is Way2API's error_code, and every field taken from the provider is masked when the error is built (TestWay2APIMasksEchoedCode)",
	// A prefix is what a prefix block is about: events, logs and the
	// operator's command name it on purpose; it names no one's number.
	"contract.PrefixRule": "Key is a number prefix: the country code and WithPrefixLimit's digits of the national number (+91987654: 6 by default)",
}

// samples build, for each type that holds a code, a phone number or a MAC,
// a value holding the planted ones: most are zero values filled by plant,
// the rest are made through their package's API. TestFormattingMasksSecrets
// fails for a type the parser flags that has no entry here.
var samples = map[string]func(t *testing.T) any{
	"phone.Number":          func(*testing.T) any { return plant(&phone.Number{}) },
	"contract.Message":      func(*testing.T) any { return plant(&contract.Message{}) },
	"contract.Challenge":    func(*testing.T) any { return plant(&contract.Challenge{}) },
	"contract.Factor":       func(*testing.T) any { return plant(&contract.Factor{}) },
	"contract.Budget":       func(*testing.T) any { return plant(&contract.Budget{}) },
	"contract.OpenParams":   func(*testing.T) any { return plant(&contract.OpenParams{}) },
	"contract.ResendParams": func(*testing.T) any { return plant(&contract.ResendParams{}) },
	"contract.VerifyParams": func(*testing.T) any { return plant(&contract.VerifyParams{}) },
	"contract.NewDevice":    func(*testing.T) any { return plant(&contract.NewDevice{}) },
	"contract.Submission":   func(*testing.T) any { return plant(&contract.Submission{}) },
	"contract.Result":       func(*testing.T) any { return plant(&contract.Result{}) },
	"contract.TOTP":         func(*testing.T) any { return plant(&contract.TOTP{}) },
	"contract.TOTPUse":      func(*testing.T) any { return plant(&contract.TOTPUse{}) },
	"sms.Method":            newSampleSMS,
	"recovery.Method":       newSampleRecovery,
	"device.Method":         newSampleDevice,
	"totp.Method":           newSampleTOTP,
	"sms2fa.User":           func(*testing.T) any { return plant(&sms2fa.User{}) },
	"sms2fa.Event":          func(*testing.T) any { return plant(&sms2fa.Event{Kind: sms2fa.EventFactorChanged}) },
	"sms2fa.FactorInfo":     func(*testing.T) any { return plant(&sms2fa.FactorInfo{}) },
	"templates.PageData":    func(*testing.T) any { return plant(&templates.PageData{}) },
	"templates.FlowData":    func(*testing.T) any { return plant(&templates.FlowData{}) },
	"way2apitest.Request":   func(*testing.T) any { return plant(&way2apitest.Request{}) },
	"sms2fa.Guard":          newSampleGuard,
	"ginguard.Guard":        newSampleGinGuard,
	"sender.Fake":           newSampleFake,
	"way2apitest.Server":    newSampleServer,
	"sender.Way2API":        newSampleWay2API,
}

// pointerOnly are the sampled types only ever used through a pointer (they
// hold a mutex, or are built by a constructor that returns one).
var pointerOnly = map[string]bool{"sender.Fake": true, "way2apitest.Server": true, "sender.Way2API": true, "sms2fa.Guard": true, "ginguard.Guard": true,
	"sms.Method": true, "recovery.Method": true, "device.Method": true, "totp.Method": true}

// opaque are the sampled types whose secret reflection cannot see: the
// sender keeps its API key (which holds the code's digits here) in a
// closure.
var opaque = map[string]bool{"sender.Way2API": true}

// TestFormattingMasksSecrets parses every package of the module that an app
// can import, finds each exported struct type that holds a code, a phone
// number or a MAC — by field name (Code, Phone, To, Number, MAC, …) or by
// holding, at any depth and in unexported fields too, a phone.Number, a
// Message or another such type — and prints a value of it holding known
// secrets with every fmt verb and through both slog handlers: neither the
// code nor the number nor the MAC may show. A type added later is checked
// the day it is added: without a sample here the test fails.
func TestFormattingMasksSecrets(t *testing.T) {
	found := sensitiveTypes(t)
	var missing []string
	for _, name := range found {
		if _, ok := samples[name]; !ok && exempt[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("types that hold a code, a number or a MAC have no sample in samples (add one, and String, Format and LogValue methods that mask them): %v", missing)
	}
	for name := range samples {
		if !slices.Contains(found, name) {
			t.Errorf("samples has %s, which the parser does not flag: the parser or the table is out of date", name)
		}
	}

	for _, name := range found {
		mk := samples[name]
		if mk == nil {
			continue // exempt
		}
		t.Run(name, func(t *testing.T) {
			v := mk(t)
			if !opaque[name] && !holdsSecret(reflect.ValueOf(v), 0) {
				t.Fatalf("the sample holds none of the planted secrets: it proves nothing")
			}
			subjects := map[string]any{"*T": v}
			if !pointerOnly[name] {
				subjects["T"] = reflect.ValueOf(v).Elem().Interface()
			}
			for form, s := range subjects {
				if _, ok := s.(fmt.Stringer); !ok {
					t.Errorf("%s has no String method", form)
				}
				if _, ok := s.(fmt.Formatter); !ok {
					t.Errorf("%s has no Format method", form)
				}
				if _, ok := s.(slog.LogValuer); !ok {
					t.Errorf("%s has no LogValue method", form)
				}
				for how, out := range renderings(s) {
					if l := leaks(out); len(l) > 0 {
						t.Errorf("%s of %s shows %q: %s", how, form, l, out)
					}
				}
			}
		})
	}
}

// renderings prints v every way an app might: fmt's verbs, v inside a slice
// and a struct, and log/slog's text and JSON handlers.
func renderings(v any) map[string]string {
	out := map[string]string{}
	if s, ok := v.(fmt.Stringer); ok {
		out["String()"] = s.String()
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		out[verb] = fmt.Sprintf(verb, v)
		out[verb+" in []any"] = fmt.Sprintf(verb, []any{v})
		out[verb+" in a struct"] = fmt.Sprintf(verb, struct{ V any }{v})
	}
	out["Sprint"], out["Sprintln"] = fmt.Sprint(v), fmt.Sprintln(v)
	out["Errorf %v"] = fmt.Errorf("failed for %v", v).Error()
	for hname, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"JSON": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		for aname, attr := range map[string]slog.Attr{
			"slog.Any":   slog.Any("v", v),
			"slog.Group": slog.Group("g", slog.Any("v", v)),
		} {
			var buf bytes.Buffer
			slog.New(h(&buf)).Info("msg", attr)
			out[aname+" "+hname] = buf.String()
		}
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("msg", "v", v)
		out["slog key-value "+hname] = buf.String()
	}
	// The text handler prints a slice with %+v, which reaches Format. (The
	// JSON handler hands a slice to encoding/json, which no method here
	// governs: that would take MarshalJSON, which would change the JSON apps
	// build from these types.)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "list", []any{v})
	out["slog text, in a slice"] = buf.String()
	return out
}

// sensitiveTypes lists, as "package.Type", the exported struct types of the
// module's importable packages (neither internal, nor main, nor tests) that
// hold a code, a phone number or a MAC.
func sensitiveTypes(t *testing.T) []string {
	t.Helper()
	// Field names that hold a secret, lower case.
	secretNames := map[string]bool{
		"code": true, "codes": true, "value": true, // codes: OTPs, recovery codes, typed values
		"phone": true, "oldphone": true, "to": true, "number": true, "national": true, "e164": true, "key": true, // numbers (a budget's key is one)
		"mac":    true,              // keyed MACs of codes and tokens
		"sealed": true, "uri": true, // an authenticator's secret, sealed or in its otpauth:// URI
	}
	// Types that hold a secret whatever their fields are called.
	sensitive := map[string]bool{"phone.Number": true, "contract.Message": true}

	type structType struct {
		pkg      string            // package name
		imports  map[string]string // local name → package name
		st       *ast.StructType
		exported bool
	}
	all := map[string]structType{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		base := d.Name()
		if dir != "." && (base == "internal" || base == "testdata" || base == "vendor" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
			return filepath.SkipDir
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			if f.Name.Name == "main" {
				return nil // a command or the demo: nothing to import
			}
			imports := map[string]string{}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				name := path.Base(p)
				if p == "github.com/sms2fa/sms2fa" {
					name = "sms2fa"
				}
				local := name
				if imp.Name != nil {
					local = imp.Name.Name
				}
				imports[local] = name
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					if st, ok := ts.Type.(*ast.StructType); ok {
						all[f.Name.Name+"."+ts.Name.Name] = structType{f.Name.Name, imports, st, ts.Name.IsExported()}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no struct types found: the walk looks in the wrong place")
	}

	// refs lists the types a field's type names, at any depth (*T, []T,
	// map[K]V, pkg.T), as "package.Type"; not those of a func's parameters
	// and results, which a func value does not hold.
	refs := func(s structType, expr ast.Expr) []string {
		var out []string
		ast.Inspect(expr, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.FuncType:
				return false
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok {
					if p, ok := s.imports[id.Name]; ok {
						out = append(out, p+"."+x.Sel.Name)
					}
				}
				return false
			case *ast.Ident:
				out = append(out, s.pkg+"."+x.Name)
			}
			return true
		})
		return out
	}
	for changed := true; changed; {
		changed = false
		for name, s := range all {
			if sensitive[name] {
				continue
			}
			for _, f := range s.st.Fields.List {
				hit := false
				for _, id := range f.Names {
					if secretNames[strings.ToLower(id.Name)] {
						hit = true
					}
				}
				for _, r := range refs(s, f.Type) {
					if sensitive[r] {
						hit = true
					}
				}
				if hit {
					sensitive[name], changed = true, true
					break
				}
			}
		}
	}
	var out []string
	for name, s := range all {
		if s.exported && sensitive[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	t.Logf("types that hold a code, a number or a MAC: %v", out)
	for _, want := range []string{"phone.Number", "contract.Message", "contract.Challenge", "contract.OpenParams"} {
		if !slices.Contains(out, want) {
			t.Fatalf("the parser misses %s: it looks at the wrong names", want)
		}
	}
	return out
}

// plant fills p's fields, at any depth, with the secrets: the code in
// fields named like one, the number in fields named like one (and in every
// phone.Number), the MAC in []byte fields, and a Message or a struct of the
// module wherever one is held. It returns p.
func plant[T any](p *T) *T {
	plantValue(reflect.ValueOf(p).Elem(), "", 0)
	return p
}

var numberType = reflect.TypeFor[phone.Number]()

func plantValue(v reflect.Value, name string, depth int) {
	if depth > 6 || !v.CanSet() {
		return
	}
	lower := strings.ToLower(name)
	if v.Type() == numberType {
		n, err := phone.Parse(leakNumber, "")
		if err != nil {
			panic(err)
		}
		v.Set(reflect.ValueOf(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		switch lower {
		case "code", "value", "uri":
			v.SetString(leakCode)
		case "phone", "oldphone", "to", "number", "e164", "key":
			v.SetString(leakNumber)
		case "national":
			v.SetString(leakNational)
		}
	case reflect.Slice:
		switch {
		case v.Type().Elem().Kind() == reflect.Uint8:
			if lower == "body" {
				v.SetBytes([]byte(`{"number":"` + leakNumber + `","value":"` + leakCode + `"}`))
			} else {
				v.SetBytes(slices.Clone(leakMAC))
			}
		case v.Type().Elem().Kind() == reflect.String && lower == "codes":
			v.Set(reflect.ValueOf([]string{leakCode, leakCode}))
		case v.Type().Elem().Kind() == reflect.Struct:
			s := reflect.MakeSlice(v.Type(), 2, 2)
			for i := range 2 {
				plantValue(s.Index(i), name, depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		if v.Type() == reflect.TypeFor[http.Header]() {
			v.Set(reflect.ValueOf(http.Header{"Authorization": {"Bearer " + leakCode}, "X-Number": {leakNumber}}))
		}
	case reflect.Struct:
		if !strings.HasPrefix(v.Type().PkgPath(), "github.com/sms2fa/sms2fa") {
			return // time.Time and the like
		}
		for i := range v.NumField() {
			plantValue(v.Field(i), v.Type().Field(i).Name, depth+1)
		}
	}
}

// holdsSecret reports whether v holds a planted secret anywhere, unexported
// fields included: a sample that holds none would pass vacuously.
func holdsSecret(v reflect.Value, depth int) bool {
	if depth > 8 || !v.IsValid() {
		return false
	}
	// The standard library's servers and locks hold no planted secret, and
	// a running server writes its own maps while we would read them.
	if p := v.Type().PkgPath(); strings.HasPrefix(p, "net/") || p == "sync" || p == "sync/atomic" {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		return strings.Contains(v.String(), leakCode) || strings.Contains(v.String(), leakNational)
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && holdsSecret(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			return bytes.Contains(b, leakMAC) || bytes.Contains(b, leakKey) || bytes.Contains(b, []byte(leakCode))
		}
		for i := range v.Len() {
			if holdsSecret(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if holdsSecret(k, depth+1) || holdsSecret(v.MapIndex(k), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if holdsSecret(v.Field(i), depth+1) {
				return true
			}
		}
	}
	return false
}

// sampleMessage is the message the senders' samples hold.
func sampleMessage() contract.Message {
	return contract.Message{To: leakNumber, Code: leakCode, Content: contract.ContentOTP, Purpose: contract.PurposeLogin}
}

// newSampleFake returns a Fake that recorded a message.
func newSampleFake(t *testing.T) any {
	f := sender.NewFake()
	if _, err := f.Send(context.Background(), sampleMessage()); err != nil {
		t.Fatal(err)
	}
	return f
}

// newSampleServer returns a stand-in Way2API server that recorded a
// request.
func newSampleServer(t *testing.T) any {
	srv := way2apitest.NewServer(leakAPIKey)
	t.Cleanup(srv.Close)
	w, err := sender.NewWay2API(leakAPIKey, sender.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(context.Background(), sampleMessage()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// leakAPIKey is the senders' API key: it holds the code's digits, so a
// leak of it shows as one.
const leakAPIKey = "w2a_" + leakCode + "_" + leakNational

// newSampleWay2API returns a sender holding leakAPIKey.
func newSampleWay2API(t *testing.T) any {
	w, err := sender.NewWay2API(leakAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// newSampleGuard returns a guard: it holds the keys it derives from its
// secret (leakKey among them), which no verb may print. Its store is never
// called.
func newSampleGuard(t *testing.T) any {
	g, err := sms2fa.New(sessions.NewCookieStore([]byte("format-test-session-key-32-bytes")),
		struct{ contract.Store }{}, sender.NewFake(), leakSecret,
		func(*http.Request) (sms2fa.User, bool) { return sms2fa.User{}, false },
		sms2fa.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// newSampleGinGuard returns the Gin adapter's guard, which holds a core
// guard.
func newSampleGinGuard(t *testing.T) any {
	g, err := ginguard.New(sessions.NewCookieStore([]byte("format-test-session-key-32-bytes")),
		struct{ contract.Store }{}, sender.NewFake(), leakSecret,
		func(*gin.Context) (sms2fa.User, bool) { return sms2fa.User{}, false },
		sms2fa.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// leakDerive binds a method to the planted key, as the guard's derivation
// would to its own.
func leakDerive(string) ([]byte, error) { return leakKey, nil }

// newSampleSMS returns the SMS method, bound to the planted secret.
func newSampleSMS(t *testing.T) any {
	m, err := sms.New(sender.NewFake())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bind(leakDerive); err != nil {
		t.Fatal(err)
	}
	return m
}

// newSampleDevice returns the device method, bound to the planted secret.
func newSampleDevice(t *testing.T) any {
	m, err := device.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bind(leakDerive); err != nil {
		t.Fatal(err)
	}
	return m
}

// newSampleTOTP returns the authenticator method, bound to the planted
// secret and holding it as a previous one too.
func newSampleTOTP(t *testing.T) any {
	m, err := totp.New(totp.WithPreviousSecrets(leakSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bind(leakDerive); err != nil {
		t.Fatal(err)
	}
	return m
}

// newSampleRecovery returns the recovery method, bound to the planted
// secret.
func newSampleRecovery(t *testing.T) any {
	m := recovery.New()
	if err := m.Bind(leakDerive); err != nil {
		t.Fatal(err)
	}
	return m
}
