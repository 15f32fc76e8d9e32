package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitaccess/gitaccess/internal/client"
)

// What most verbs share: check -o, connect, fetch, render; confirm before
// deleting.

// connect checks the -o format and returns it with a client for the
// resolved login.
func (a *app) connect(cmd *cobra.Command) (string, *client.Client, error) {
	out := outputFormat(cmd)
	if err := checkFormat(out); err != nil {
		return "", nil, err
	}
	c, err := a.apiClient()
	if err != nil {
		return "", nil, err
	}
	return out, c, nil
}

// show runs a verb that fetches one value and prints it: as JSON or YAML,
// or through table.
func show[T any](a *app, cmd *cobra.Command, fetch func(context.Context, *client.Client) (T, error), table func(io.Writer, T) error) error {
	out, c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	v, err := fetch(cmd.Context(), c)
	if err != nil {
		return err
	}
	return render(cmd.OutOrStdout(), out, v, func(w io.Writer) error { return table(w, v) })
}

// confirmTyped has the user type name, the thing's what ("name", "id"),
// before something irreversible. yes skips the question; without a
// terminal, nothing can be asked, so nothing happens without yes.
func (a *app) confirmTyped(ctx context.Context, yes bool, noun, what, name string) error {
	if yes {
		return nil
	}
	if !a.opts.IsTerminal() {
		return fmt.Errorf("refusing to delete %s %s without confirmation: stdin is not a terminal; pass --yes to delete it", noun, clean(name))
	}
	typed, err := a.opts.Prompter.ReadLine(ctx, fmt.Sprintf("Deleting %s %s cannot be undone. Type its %s to confirm: ", noun, clean(name), what))
	if err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	if typed != name {
		return fmt.Errorf("the %s you typed does not match; nothing was deleted", what)
	}
	return nil
}

// deleteCmd is "<group> delete NAME [--yes]", which has the user type the
// name first.
func (a *app) deleteCmd(group, noun string, complete cobra.CompletionFunc, del func(context.Context, *client.Client, string) error) *cobra.Command {
	return a.deleteCmdBy(group, noun, "name", "ci", complete, del)
}

// deleteCmdBy is deleteCmd for what is identified by its what ("name",
// "id"); example is such an identifier, for the help.
func (a *app) deleteCmdBy(group, noun, what, example string, complete cobra.CompletionFunc, del func(context.Context, *client.Client, string) error) *cobra.Command {
	var yes bool
	arg := strings.ToUpper(what)
	cmd := &cobra.Command{
		Use:     "delete " + arg,
		Aliases: []string{"rm"},
		Short:   "Delete a " + noun,
		Long: fmt.Sprintf(`Deletes a %s after you type its %s to confirm. Without a terminal,
--yes is required.`, noun, what),
		Example:           fmt.Sprintf("  gitaccess %[1]s delete %[2]s\n  gitaccess %[1]s delete %[2]s --yes", group, example),
		Args:              usageArgs(1, "the "+noun+" "+arg),
		ValidArgsFunction: complete,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if err := a.confirmTyped(ctx, yes, noun, what, name); err != nil {
				return err
			}
			c, err := a.apiClient()
			if err != nil {
				return err
			}
			if err := del(ctx, c, name); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s %s.\n", noun, clean(name))
			return err
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}

// completeNames completes a verb's first argument with what list
// returns ("name\tdescription"); any failure offers nothing.
func (a *app) completeNames(cmd *cobra.Command, args []string, list func(context.Context, *client.Client) ([]string, error)) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.apiClient()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	names, err := list(ctx, c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// rangeArgs is usageArgs for verbs with optional arguments.
func rangeArgs(least, most int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= least && len(args) <= most {
			return nil
		}
		return fmt.Errorf("%s needs %s (got %d arguments); see '%s --help'", cmd.CommandPath(), names, len(args), cmd.CommandPath())
	}
}
