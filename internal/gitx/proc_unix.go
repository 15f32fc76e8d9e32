//go:build unix

package gitx

import (
	"os/exec"
	"syscall"
)

// terminateGroup runs git in its own process group and makes cancellation
// send SIGTERM to the whole group: git then removes what it half-made, and
// helpers it started (remote-https, index-pack, submodule clones) stop too
// instead of writing into a directory being deleted.
func terminateGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
}
