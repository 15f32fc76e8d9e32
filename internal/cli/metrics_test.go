package cli_test

import (
	"context"
	"testing"

	"github.com/gitaccess/gitaccess/internal/cli"
	"github.com/gitaccess/gitaccess/internal/server"
)

// TestServeMetricsListen: --metrics-listen reaches the server's config,
// and without it /metrics stays on the main listener.
func TestServeMetricsListen(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--metrics-listen", "127.0.0.1:9090"}, "127.0.0.1:9090"},
		{[]string{"serve"}, ""},
	} {
		var got server.Config
		h := newHarness(t)
		h.env["GITACCESS_MASTER_KEY"] = "master-keyring-json"
		h.secrets = append(h.secrets, "master-keyring-json")
		h.opts = func(o *cli.Options) {
			o.Unsetenv = func(string) error { return nil }
			o.Serve = func(_ context.Context, cfg server.Config) error {
				got = cfg
				return nil
			}
		}
		h.run("", tc.args...).ok(t)
		if got.MetricsListen != tc.want {
			t.Errorf("gitaccess %v: MetricsListen = %q, want %q", tc.args, got.MetricsListen, tc.want)
		}
	}
}
