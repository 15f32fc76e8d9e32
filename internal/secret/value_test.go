package secret_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/secret"
)

const canary = "ghp_CANARYcanary0123456789abcdefghijklmn"

// leaks reports whether s shows the canary in any of the usual spellings.
func leaks(s string) bool {
	return strings.Contains(s, canary) ||
		strings.Contains(s, hex.EncodeToString([]byte(canary))) ||
		strings.Contains(s, strings.ToUpper(hex.EncodeToString([]byte(canary)))) ||
		strings.Contains(s, strings.Trim(fmt.Sprint([]byte(canary)), "[]")) ||
		strings.Contains(s, "CANARY")
}

func TestValuePrintsRedactedUnderEveryVerb(t *testing.T) {
	v := secret.New(canary)
	for _, verb := range allVerbs() {
		for _, arg := range []any{v, &v} {
			got := fmt.Sprintf(verb, arg)
			if leaks(got) {
				t.Errorf("Sprintf(%q, %T) = %q leaks the secret", verb, arg, got)
			}
		}
	}
	if got := fmt.Sprint(v); got != "[REDACTED]" {
		t.Errorf("Sprint = %q, want [REDACTED]", got)
	}
	if got := fmt.Errorf("call failed with %v", v).Error(); leaks(got) {
		t.Errorf("error message leaks: %q", got)
	}
}

func allVerbs() []string {
	return []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-40v", "%.3s", "%U", "%c", "%b", "%o", "%t", "%p", "%e", "%T"}
}

type exported struct {
	Name  string
	Token secret.Value
	Ptr   *secret.Value
}

type unexported struct {
	name  string
	token secret.Value
}

func TestValueNestedInStructsStaysRedacted(t *testing.T) {
	v := secret.New(canary)
	vals := []any{
		exported{Name: "n", Token: v, Ptr: &v},
		&exported{Name: "n", Token: v},
		unexported{name: "n", token: v},
		[]secret.Value{v},
		map[string]secret.Value{"t": v},
		[]unexported{{token: v}},
	}
	for _, val := range vals {
		for _, verb := range allVerbs() {
			if got := fmt.Sprintf(verb, val); leaks(got) {
				t.Errorf("Sprintf(%q, %T) = %q leaks the secret", verb, val, got)
			}
		}
	}
}

func TestValueJSON(t *testing.T) {
	v := secret.New(canary)
	for _, val := range []any{v, &v, exported{Token: v, Ptr: &v}, map[string]any{"t": v}} {
		b, err := json.Marshal(val)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", val, err)
		}
		if leaks(string(b)) || !bytes.Contains(b, []byte(`"[REDACTED]"`)) {
			t.Errorf("Marshal(%T) = %s, want the redaction marker and no secret", val, b)
		}
	}

	// Request bodies carry values in.
	var in struct{ Token secret.Value }
	if err := json.Unmarshal([]byte(`{"Token":"`+canary+`"}`), &in); err != nil {
		t.Fatal(err)
	}
	if in.Token.Reveal() != canary {
		t.Errorf("Unmarshal: Reveal = %q, want the JSON string", in.Token.Reveal())
	}
	err := json.Unmarshal([]byte(`{"Token":12345}`), &in)
	if err == nil {
		t.Fatal("Unmarshal of a number succeeded, want an error")
	}
}

func TestValueSlog(t *testing.T) {
	v := secret.New(canary)
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("msg", "token", v, "ptr", &v, "req", exported{Token: v}, "priv", unexported{token: v})
		log.Info("msg", slog.Any("token", v), slog.String("s", fmt.Sprint(v)))
		log.With("token", v).WithGroup("g").Info("msg", "token", v)
		out := buf.String()
		if leaks(out) {
			t.Errorf("%s handler leaks the secret:\n%s", name, out)
		}
		if !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s handler output has no redaction marker:\n%s", name, out)
		}
	}
}

func TestValueEqual(t *testing.T) {
	tests := []struct {
		a, b secret.Value
		want bool
	}{
		{secret.New("abc"), secret.New("abc"), true},
		{secret.New("abc"), secret.NewBytes([]byte("abc")), true},
		{secret.New("abc"), secret.New("abd"), false},
		{secret.New("abc"), secret.New("abcd"), false},
		{secret.New("abc"), secret.Value{}, false},
		{secret.Value{}, secret.Value{}, true},
		{secret.Value{}, secret.New(""), true},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("Equal(len %d, len %d) = %v, want %v", tt.a.Len(), tt.b.Len(), got, tt.want)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	src := []byte(canary)
	v := secret.NewBytes(src)
	src[0] = 'X'
	if v.Reveal() != canary {
		t.Error("NewBytes kept a reference to the caller's slice")
	}
	out := v.RevealBytes()
	out[0] = 'X'
	if v.Reveal() != canary {
		t.Error("RevealBytes returned the Value's own slice")
	}
	if v.Len() != len(canary) || v.IsZero() {
		t.Errorf("Len = %d, IsZero = %v", v.Len(), v.IsZero())
	}
	var zero secret.Value
	if !zero.IsZero() || zero.Reveal() != "" || zero.Len() != 0 {
		t.Error("the zero Value is not empty")
	}
}

func TestValueLast4(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ghp_abcdefghWXYZ", "WXYZ"},
		{"123456789012", "9012"},
		{"12345678901", ""}, // too short to show any of it
		{"", ""},
	}
	for _, tt := range tests {
		if got := secret.New(tt.in).Last4(); got != tt.want {
			t.Errorf("Last4(len %d) = %q, want %q", len(tt.in), got, tt.want)
		}
	}
}

func TestValueFingerprint(t *testing.T) {
	a, b := secret.New(canary), secret.New(canary+"x")
	fa := a.Fingerprint()
	if !regexp.MustCompile(`^sha256:[0-9a-f]{16}$`).MatchString(fa) {
		t.Errorf("Fingerprint = %q, want sha256: and 16 hex digits", fa)
	}
	if fa != secret.New(canary).Fingerprint() {
		t.Error("Fingerprint is not stable for equal values")
	}
	if fa == b.Fingerprint() {
		t.Error("different values share a fingerprint")
	}
	if leaks(fa) {
		t.Errorf("Fingerprint %q shows the secret", fa)
	}
	if got := (secret.Value{}).Fingerprint(); got != "" {
		t.Errorf("Fingerprint of the zero Value = %q, want empty", got)
	}
}

func TestRedactScrubsEchoedSecret(t *testing.T) {
	v := secret.New("glpat-echoed-back-0001")
	got := v.Redact(`{"message":"token glpat-echoed-back-0001 is invalid; glpat-echoed-back-0001"}`)
	if strings.Contains(got, v.Reveal()) || strings.Count(got, "[REDACTED]") != 2 {
		t.Fatalf("Redact = %q", got)
	}
	if got := (secret.Value{}).Redact("unchanged"); got != "unchanged" {
		t.Fatalf("zero Value changed text: %q", got)
	}
}
