package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// Output formats for -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// outputFlag adds -o/--output to cmd and returns where its value lands.
func outputFlag(cmd *cobra.Command) *string {
	var f string
	cmd.Flags().StringVarP(&f, "output", "o", formatTable, "output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{formatTable, formatJSON, formatYAML}, cobra.ShellCompDirectiveNoFileComp))
	return &f
}

func checkFormat(f string) error {
	switch f {
	case formatTable, formatJSON, formatYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q: use table, json or yaml", clean(f))
}

// render writes v as JSON or YAML with the API's field names, or calls table
// for the human form.
func render(w io.Writer, format string, v any, table func(io.Writer) error) error {
	switch format {
	case formatJSON:
		return writeJSON(w, v)
	case formatYAML:
		return writeYAML(w, v)
	default:
		return table(w)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeYAML goes through JSON so field names and order are the API's (yaml
// tags would otherwise be needed on every view type).
func writeYAML(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	blockStyle(&doc)
	ye := yaml.NewEncoder(w)
	ye.SetIndent(2)
	if err := ye.Encode(&doc); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	if err := ye.Close(); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return nil
}

// blockStyle drops the flow and quoting styles JSON parsing left behind;
// the encoder quotes exactly the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// row writes one tab-separated table row; every cell is cleaned.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = clean(c)
	}
	_, _ = fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// clean replaces control characters (escape sequences, newlines, tabs) in
// server-supplied text, so a name or provider message cannot rewrite the
// user's terminal or break a table.
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinList(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ", ")
}

const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02 15:04 UTC"
)

func fmtTime(t *time.Time, never string) string {
	if t == nil || t.IsZero() {
		return never
	}
	return t.UTC().Format(dateTimeLayout)
}

func fmtDate(t *time.Time, never string) string {
	if t == nil || t.IsZero() {
		return never
	}
	return t.UTC().Format(dateLayout)
}

// fmtExpiry is the expiry date with the days left, which is what a user
// deciding whether to rotate needs.
func fmtExpiry(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.UTC().Format(dateLayout) + " (" + daysLeft(*t, now) + ")"
}

func daysLeft(t, now time.Time) string {
	const day = 24 * time.Hour
	d := t.Sub(now)
	if d >= 0 {
		switch n := int(d / day); n {
		case 0:
			return "less than a day left"
		case 1:
			return "1 day left"
		default:
			return fmt.Sprintf("%d days left", n)
		}
	}
	switch n := int(-d / day); n {
	case 0:
		return "expired today"
	case 1:
		return "expired 1 day ago"
	default:
		return fmt.Sprintf("expired %d days ago", n)
	}
}
