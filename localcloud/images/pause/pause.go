// pause: the pod sandbox "infra" process for the local cloud's kubelets.
//
// It is PID 1 of every pod sandbox: it holds the pod's namespaces open by
// sleeping forever, reaps the zombie children that get re-parented to it
// (containers sharing the PID namespace), and exits 0 on SIGTERM or SIGINT.
// A stand-in for registry.k8s.io/pause, which cannot be pulled here; built
// by ../build-node-images.sh as a static binary (CGO_ENABLED=0) and shipped
// alone in a scratch image as localcloud/pause:3.2.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "3.2-localcloud"

func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none exited yet
			return
		}
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not running as PID 1")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			reap()
		default: // SIGTERM, SIGINT
			fmt.Fprintf(os.Stderr, "pause: shutting down, got signal %v\n", sig)
			os.Exit(0)
		}
	}
}
