// Command gitaccess is the gitaccess server and its command-line client.
package main

import (
	"context"
	"os"

	"github.com/gitaccess/gitaccess/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background()))
}
