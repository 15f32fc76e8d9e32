package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/lifecycle"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
)

const envSMTPURL = "GITACCESS_SMTP_URL"

// lifecycleFlags are serve's token revalidation and warning-mail settings.
type lifecycleFlags struct {
	every        time.Duration
	smtpURL      string
	passwordFile string
}

// lifecycleHelp is what serve's --help says about them.
const lifecycleHelp = `
Every token is re-inspected every --revalidate-every (±10%, once across
replicas); tokens crossing 30, 14, 7 and 1 days before expiry, or refused by
their provider, emit token.expiring / token.invalid events once, and, with
--smtp-url, a mail. The SMTP password is never read from a flag (every user
of the machine can read command lines): put it in --smtp-password-file, or
give the whole URL with the password in $GITACCESS_SMTP_URL.`

func (f *lifecycleFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.DurationVar(&f.every, "revalidate-every", lifecycle.DefaultEvery, "how often every token is re-inspected with its provider (jittered ±10%)")
	fs.StringVar(&f.smtpURL, "smtp-url", "", "mail token warnings: smtp://USER@HOST:PORT?from=ADDRESS&to=ADDRESS[,ADDRESS] (smtps:// for TLS from the start; default $"+envSMTPURL+"); no password here")
	fs.StringVar(&f.passwordFile, "smtp-password-file", "", "file holding the SMTP password (mode 0600 advised)")
	_ = cmd.MarkFlagFilename("smtp-password-file")
}

// apply sets cfg's revalidation and SMTP settings, then removes the SMTP
// URL from the environment so git processes do not inherit a password.
func (f *lifecycleFlags) apply(a *app, cfg *server.Config) error {
	if f.every < time.Minute {
		return fmt.Errorf("--revalidate-every %s is too often; give at least 1m (default %s)", f.every, lifecycle.DefaultEvery)
	}
	if f.every != lifecycle.DefaultEvery {
		cfg.RevalidateEvery = f.every // zero leaves the server's default
	}
	raw, source := f.smtpURL, "--smtp-url"
	if raw != "" {
		c, err := lifecycle.ParseSMTPURL(raw)
		if err != nil {
			return fmt.Errorf("--smtp-url: %w", err)
		}
		if !c.Password.IsZero() {
			return fmt.Errorf("--smtp-url must not contain a password: every user of this machine can read command lines; put it in --smtp-password-file, or the whole URL in %s", envSMTPURL)
		}
	} else {
		raw, source = a.opts.Env(envSMTPURL), envSMTPURL
		if raw != "" {
			if err := a.opts.Unsetenv(envSMTPURL); err != nil {
				return fmt.Errorf("unset %s: %w", envSMTPURL, err)
			}
		}
	}
	if raw == "" {
		if f.passwordFile != "" {
			return fmt.Errorf("--smtp-password-file is set but no SMTP server is: give --smtp-url or %s", envSMTPURL)
		}
		return nil
	}
	c, err := lifecycle.ParseSMTPURL(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if !c.Password.IsZero() {
		a.secrets = append(a.secrets, c.Password)
	}
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return fmt.Errorf("--smtp-password-file: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return fmt.Errorf("--smtp-password-file %s is empty", f.passwordFile)
		}
		c.Password = secret.New(p)
		a.secrets = append(a.secrets, c.Password)
	}
	if !c.Password.IsZero() && c.Username == "" {
		return fmt.Errorf("%s: a password is given but no user; use smtp://USER@HOST", source)
	}
	cfg.SMTP = &c
	return nil
}
