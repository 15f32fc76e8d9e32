package forge

import "testing"

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		c    UseCheck
		want CheckStatus
	}{
		{UseCheck{Needs: []string{"a"}, Proven: []string{"a"}}, CheckOK},
		{UseCheck{}, CheckOK},
		{UseCheck{Needs: []string{"a", "b"}, Proven: []string{"a"}, Unknown: []string{"b"}}, CheckUnknown},
		// Missing wins over unknown: the token cannot do it, whatever
		// the rest is.
		{UseCheck{Needs: []string{"a", "b"}, Missing: []string{"a"}, Unknown: []string{"b"}}, CheckMissing},
	} {
		if got := tc.c.Verdict(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.c, got, tc.want)
		}
	}
}
