//go:build !unix

package gitx

import "os/exec"

// terminateGroup keeps exec's default (kill git alone) where process
// groups do not exist.
func terminateGroup(*exec.Cmd) {}
