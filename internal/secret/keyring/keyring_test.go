package keyring_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
)

// canary is a secret no output may show (as in package secret's tests).
const canary = "ghp_CANARYcanary0123456789abcdefghijklmn"

// allVerbs are the fmt verbs a keyring must print safely under (as in
// package secret's tests).
func allVerbs() []string {
	return []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-40v", "%.3s", "%U", "%c", "%b", "%o", "%t", "%p", "%e", "%T"}
}

var (
	rowA = []byte("git_tokens/01HZX0A")
	rowB = []byte("git_tokens/01HZX0B")
)

func newKeyring(t testing.TB) *keyring.Keyring {
	t.Helper()
	k, err := keyring.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seal(t testing.TB, k *keyring.Keyring, v string, ad []byte) []byte {
	t.Helper()
	s, err := k.Seal(secret.New(v), ad)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parts splits a sealed value by the documented v1 layout: version byte,
// 2-byte length, wrapped data key, value ciphertext.
func parts(t *testing.T, sealed []byte) (wrapped, ct []byte) {
	t.Helper()
	if len(sealed) < 3 || sealed[0] != 1 {
		t.Fatalf("sealed value does not start with version 1: % x", sealed[:min(3, len(sealed))])
	}
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	if len(sealed) < 3+n {
		t.Fatalf("sealed value shorter than its wrapped-key length %d", n)
	}
	return sealed[3 : 3+n], sealed[3+n:]
}

func wantCannotOpen(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, keyring.ErrCannotOpen) {
		t.Errorf("%s: err = %v, want ErrCannotOpen", what, err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKeyring(t)
	for _, v := range []string{canary, "x", strings.Repeat("long", 1000)} {
		s := seal(t, k, v, rowA)
		got, err := k.Open(s, rowA)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got.Reveal() != v {
			t.Errorf("Open returned a different value (len %d, want %d)", got.Len(), len(v))
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := newKeyring(t)
	a, b := seal(t, k, canary, rowA), seal(t, k, canary, rowA)
	if bytes.Equal(a, b) {
		t.Error("sealing the same value twice gave identical bytes; data keys or nonces repeat")
	}
}

func TestSealRefusesEmptyAssociatedData(t *testing.T) {
	if _, err := newKeyring(t).Seal(secret.New(canary), nil); err == nil {
		t.Error("Seal with no associated data succeeded; the ciphertext would be bound to no row")
	}
}

func TestOpenBindsTheRow(t *testing.T) {
	k := newKeyring(t)
	s := seal(t, k, canary, rowA)

	_, err := k.Open(s, rowB)
	wantCannotOpen(t, err, "ciphertext copied to another row")

	for _, ad := range [][]byte{nil, []byte("git_tokens/01HZX0"), append(append([]byte{}, rowA...), 0)} {
		_, err := k.Open(s, ad)
		wantCannotOpen(t, err, fmt.Sprintf("Open with ad %q", ad))
	}
	if _, err := k.Rewrap(s, rowB); !errors.Is(err, keyring.ErrCannotOpen) {
		t.Errorf("Rewrap under another row's ad: err = %v, want ErrCannotOpen", err)
	}
}

func TestOpenDetectsTamperingAnywhere(t *testing.T) {
	k := newKeyring(t)
	s := seal(t, k, canary, rowA)
	for i := range s {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(s)
			bad[i] ^= mask
			_, err := k.Open(bad, rowA)
			wantCannotOpen(t, err, fmt.Sprintf("byte %d ^ %#x", i, mask))
		}
	}
	for n := range len(s) {
		_, err := k.Open(s[:n], rowA)
		wantCannotOpen(t, err, fmt.Sprintf("truncated to %d bytes", n))
	}
	_, err := k.Open(append(bytes.Clone(s), 0), rowA)
	wantCannotOpen(t, err, "one byte appended")
}

func TestOtherKeyringCannotOpen(t *testing.T) {
	k, other := newKeyring(t), newKeyring(t)
	s := seal(t, k, canary, rowA)
	_, err := other.Open(s, rowA)
	wantCannotOpen(t, err, "Open with an unrelated keyring")
	if err != nil && !strings.Contains(err.Error(), fmt.Sprint(k.Primary())) {
		t.Errorf("error %q does not name the missing master key %d", err, k.Primary())
	}
}

func TestRotateAndRewrap(t *testing.T) {
	k := newKeyring(t)
	oldID := k.Primary()
	old := seal(t, k, canary, rowA)

	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	newID := k.Primary()
	if newID == oldID {
		t.Fatal("Rotate kept the same primary key")
	}
	if diff := cmp.Diff([]uint32{oldID, newID}, k.KeyIDs()); diff != "" {
		t.Errorf("KeyIDs after Rotate (-want +got):\n%s", diff)
	}

	// Values sealed before the rotation still open.
	if v, err := k.Open(old, rowA); err != nil || v.Reveal() != canary {
		t.Fatalf("old value after Rotate: %v", err)
	}
	if id, _ := keyring.SealedKeyID(seal(t, k, "new", rowA)); id != newID {
		t.Errorf("value sealed after Rotate is wrapped by key %d, want the new primary %d", id, newID)
	}

	re, err := k.Rewrap(old, rowA)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	oldWrapped, oldCT := parts(t, old)
	newWrapped, newCT := parts(t, re)
	if !bytes.Equal(oldCT, newCT) {
		t.Error("Rewrap changed the value ciphertext; it must only re-wrap the data key")
	}
	if bytes.Equal(oldWrapped, newWrapped) {
		t.Error("Rewrap left the wrapped data key unchanged")
	}
	if id, err := keyring.SealedKeyID(old); err != nil || id != oldID {
		t.Errorf("SealedKeyID(old) = %d, %v; want %d", id, err, oldID)
	}
	if id, err := keyring.SealedKeyID(re); err != nil || id != newID {
		t.Errorf("SealedKeyID(rewrapped) = %d, %v; want the new primary %d", id, err, newID)
	}
	// The key id SealedKeyID reports is the one tink put in the wrapped key.
	if got := binary.BigEndian.Uint32(newWrapped[1:5]); got != newID {
		t.Errorf("wrapped data key carries key id %d, want %d", got, newID)
	}
	if v, err := k.Open(re, rowA); err != nil || v.Reveal() != canary {
		t.Fatalf("rewrapped value does not open: %v", err)
	}

	// Once the old key is dropped, only the rewrapped value opens.
	dropped := withoutKey(t, k, oldID)
	_, err = dropped.Open(old, rowA)
	wantCannotOpen(t, err, "value under a dropped key")
	if err != nil && !strings.Contains(err.Error(), fmt.Sprint(oldID)) {
		t.Errorf("error %q does not name the missing key %d", err, oldID)
	}
	if v, err := dropped.Open(re, rowA); err != nil || v.Reveal() != canary {
		t.Errorf("rewrapped value does not open without the old key: %v", err)
	}
}

func TestRewrapRefusesACorruptValue(t *testing.T) {
	k := newKeyring(t)
	s := seal(t, k, canary, rowA)
	s[len(s)-1] ^= 1 // in the value ciphertext, not the wrapped key
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	_, err := k.Rewrap(s, rowA)
	wantCannotOpen(t, err, "Rewrap of a value whose ciphertext was altered")
}

// withoutKey writes k, drops key id from the tink JSON and parses it back, as
// an operator retiring an old master key would.
func withoutKey(t *testing.T, k *keyring.Keyring, id uint32) *keyring.Keyring {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ks map[string]any
	if err := json.Unmarshal(data, &ks); err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, e := range ks["key"].([]any) {
		if uint32(e.(map[string]any)["keyId"].(float64)) != id {
			keep = append(keep, e)
		}
	}
	ks["key"] = keep
	data, err = json.Marshal(ks)
	if err != nil {
		t.Fatal(err)
	}
	out, err := keyring.ParseKeyring(data)
	if err != nil {
		t.Fatalf("ParseKeyring without key %d: %v", id, err)
	}
	if diff := cmp.Diff([]uint32{k.Primary()}, out.KeyIDs()); diff != "" {
		t.Fatalf("KeyIDs (-want +got):\n%s", diff)
	}
	return out
}

// keyMaterial returns every spelling of k's raw keys that could leak: the
// base64 in the keyset JSON, and the 32 key bytes raw, hex and base64.
func keyMaterial(t *testing.T, k *keyring.Keyring) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		Key []struct {
			KeyData struct{ Value string } `json:"keyData"`
		} `json:"key"`
	}
	if err := json.Unmarshal(data, &ks); err != nil || len(ks.Key) == 0 {
		t.Fatalf("keyset JSON: %v", err)
	}
	var out []string
	for _, key := range ks.Key {
		raw, err := base64.StdEncoding.DecodeString(key.KeyData.Value)
		if err != nil || len(raw) < 32 {
			t.Fatalf("keyData.value is not base64 of a key: %v", err)
		}
		aes := raw[len(raw)-32:] // AesGcmKey proto: the key bytes come last
		out = append(out, key.KeyData.Value, string(aes), hex.EncodeToString(aes), base64.StdEncoding.EncodeToString(aes))
	}
	return out
}

func TestNothingSecretLeaks(t *testing.T) {
	k := newKeyring(t)
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	secrets := append(keyMaterial(t, k), canary)
	check := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s shows secret material: %q", what, s)
			}
		}
	}

	sealed := seal(t, k, canary, rowA)
	if bytes.Contains(sealed, []byte(canary)) || bytes.Contains(sealed, []byte(canary[:8])) {
		t.Error("the sealed bytes contain the plaintext")
	}

	check("fmt of the keyring", fmt.Sprintf("%v %+v %#v %s %q %x %d", k, k, k, k, k, k, k))
	for _, verb := range allVerbs() {
		check("fmt "+verb, fmt.Sprintf(verb, k))
	}
	check("fmt in a struct", fmt.Sprintf("%+v %#v", struct{ K *keyring.Keyring }{k}, struct{ K *keyring.Keyring }{k}))
	j, err := json.Marshal(struct{ K *keyring.Keyring }{k})
	if err != nil {
		t.Fatal(err)
	}
	check("JSON", string(j))
	txt, _ := k.MarshalText()
	check("MarshalText", string(txt))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "k", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "k", k)
	check("slog", buf.String())
	if !strings.Contains(fmt.Sprint(k), fmt.Sprint(k.Primary())) {
		t.Errorf("String %q does not show the primary key id, which operators need", k)
	}

	// Every failure path: errors name causes, never plaintext or keys.
	var errs []error
	_, err = k.Open(sealed, rowB)
	errs = append(errs, err)
	_, err = newKeyring(t).Open(sealed, rowA)
	errs = append(errs, err)
	bad := bytes.Clone(sealed)
	bad[len(bad)-3] ^= 1
	_, err = k.Open(bad, rowA)
	errs = append(errs, err)
	_, err = k.Rewrap(bad, rowA)
	errs = append(errs, err)
	_, err = k.Open(sealed[:10], rowA)
	errs = append(errs, err)
	_, err = keyring.ParseKeyring([]byte(`{"primaryKeyId": 1, "key": "` + canary + `"}`))
	errs = append(errs, err)
	_, err = keyring.ParseKeyring([]byte(canary))
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("failure %d returned no error", i)
			continue
		}
		check(fmt.Sprintf("error %d", i), err.Error())
		check(fmt.Sprintf("error %d (%%+v)", i), fmt.Sprintf("%+v", err))
	}
}

func TestParseKeyringEnvForm(t *testing.T) {
	k := newKeyring(t)
	s := seal(t, k, canary, rowA)
	path := filepath.Join(t.TempDir(), "k.json")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(data)
	var wrapped strings.Builder // `base64` without -w0 wraps at 76 columns
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\n")
	}
	for name, in := range map[string]string{
		"json":           string(data),
		"base64":         b64,
		"base64 wrapped": wrapped.String(),
		"base64 raw":     strings.TrimRight(b64, "="),
		"base64 spaced":  "  " + b64 + "\n",
	} {
		got, err := keyring.ParseKeyring([]byte(in))
		if err != nil {
			t.Errorf("%s: ParseKeyring: %v", name, err)
			continue
		}
		if v, err := got.Open(s, rowA); err != nil || v.Reveal() != canary {
			t.Errorf("%s: parsed keyring does not open a value sealed by the original: %v", name, err)
		}
	}
	for _, in := range []string{"", "   ", "not a keyring", "{}", `{"key":[]}`} {
		if _, err := keyring.ParseKeyring([]byte(in)); err == nil {
			t.Errorf("ParseKeyring(%q) succeeded", in)
		}
	}
}

func TestZeroKeyringFailsCleanly(t *testing.T) {
	var k keyring.Keyring
	if _, err := k.Seal(secret.New(canary), rowA); err == nil {
		t.Error("Seal on a zero Keyring succeeded")
	}
	if _, err := k.Open([]byte{1, 0, 0}, rowA); err == nil {
		t.Error("Open on a zero Keyring succeeded")
	}
	if err := k.Rotate(); err == nil {
		t.Error("Rotate on a zero Keyring succeeded")
	}
}

func BenchmarkSeal(b *testing.B) {
	k := newKeyring(b)
	v := secret.New(canary[:40])
	for b.Loop() {
		if _, err := k.Seal(v, rowA); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := newKeyring(b)
	s := seal(b, k, canary[:40], rowA)
	for b.Loop() {
		if _, err := k.Open(s, rowA); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyringIsSafeForConcurrentUse(t *testing.T) {
	k := newKeyring(t)
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 50 {
				s, err := k.Seal(secret.New(canary), rowA)
				if err == nil {
					_, err = k.Open(s, rowA)
				}
				if err == nil {
					_, err = k.Rewrap(s, rowA)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 5 {
		if err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Errorf("Seal/Open/Rewrap during Rotate: %v", err)
		}
	}
	if got := len(k.KeyIDs()); got != 6 {
		t.Errorf("after 5 rotations the keyring holds %d keys, want 6", got)
	}
}
