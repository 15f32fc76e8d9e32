package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// maxSecretBytes bounds a secret read from stdin; tokens and keys are far
// smaller, and a mistaken pipe of a large file should fail, not be sent.
const maxSecretBytes = 16 << 10

// readSecret reads a token value or API key: from stdin when it is not a
// terminal (pipes, CI), otherwise from a no-echo prompt. what names it in
// the prompt and in errors ("the GitHub token").
func (a *app) readSecret(ctx context.Context, what string) (secret.Value, error) {
	var v secret.Value
	if a.opts.IsTerminal() {
		var err error
		v, err = a.opts.Prompter.ReadSecret(ctx, fmt.Sprintf("Paste %s (input is hidden): ", what))
		if err != nil {
			return secret.Value{}, fmt.Errorf("read %s: %w", what, err)
		}
		raw := v.RevealBytes()
		v = secret.NewBytes(bytes.TrimSpace(raw))
		clear(raw)
	} else {
		b, err := io.ReadAll(io.LimitReader(a.opts.Stdin, maxSecretBytes+1))
		if err != nil {
			return secret.Value{}, fmt.Errorf("read %s from stdin: %w", what, err)
		}
		if len(b) > maxSecretBytes {
			clear(b)
			return secret.Value{}, fmt.Errorf("stdin holds more than %d bytes; give only %s", maxSecretBytes, what)
		}
		t := bytes.TrimSpace(b)
		if bytes.ContainsAny(t, "\r\n") {
			clear(b)
			return secret.Value{}, fmt.Errorf("stdin holds more than one line; give only %s", what)
		}
		v = secret.NewBytes(t)
		clear(b)
	}
	if v.IsZero() {
		return secret.Value{}, fmt.Errorf("nothing was given for %s: pipe it on stdin, or run in a terminal to be prompted", what)
	}
	a.remember(v)
	return v, nil
}

// ttyPrompter talks to the controlling terminal directly, so prompts work
// even when stdout is redirected and never mix into captured output.
type ttyPrompter struct{}

func openTTY() (*os.File, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open terminal: %w", err)
	}
	return f, nil
}

// ReadSecret turns echo off while reading. An interrupt restores the
// terminal before giving up: otherwise Ctrl-C would leave the user's shell
// without echo.
func (ttyPrompter) ReadSecret(ctx context.Context, prompt string) (secret.Value, error) {
	tty, err := openTTY()
	if err != nil {
		return secret.Value{}, err
	}
	defer func() { _ = tty.Close() }()
	fd := int(tty.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return secret.Value{}, fmt.Errorf("terminal state: %w", err)
	}
	if _, err := fmt.Fprint(tty, prompt); err != nil {
		return secret.Value{}, fmt.Errorf("write prompt: %w", err)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		_, _ = fmt.Fprintln(tty)
		if r.err != nil {
			return secret.Value{}, fmt.Errorf("read from terminal: %w", r.err)
		}
		v := secret.NewBytes(r.b)
		clear(r.b)
		return v, nil
	case <-sig:
		_ = term.Restore(fd, state)
		_, _ = fmt.Fprintln(tty)
		return secret.Value{}, errors.New("interrupted")
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		_, _ = fmt.Fprintln(tty)
		return secret.Value{}, ctx.Err()
	}
}

// ReadLine reads one echoed line, for confirmations.
func (ttyPrompter) ReadLine(ctx context.Context, prompt string) (string, error) {
	tty, err := openTTY()
	if err != nil {
		return "", err
	}
	defer func() { _ = tty.Close() }()
	if _, err := fmt.Fprint(tty, prompt); err != nil {
		return "", fmt.Errorf("write prompt: %w", err)
	}
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := bufio.NewReader(tty).ReadString('\n')
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			return "", fmt.Errorf("read from terminal: %w", r.err)
		}
		return strings.TrimSpace(r.s), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
