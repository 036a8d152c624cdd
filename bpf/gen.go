// Package bpf loads hoptap's eBPF programs, attaches them at the cgroup v2
// root and hands out typed events read from the ring buffer.
//
// The programs are in hoptap.c; bpf2go's output (hoptap_*_bpfel.go and
// .o) is committed so that building needs no clang. `make generate`
// rebuilds it.
package bpf

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -fdebug-compilation-dir=." -target amd64,arm64 -type pkt_event -type owner_event -type sock_event -type retrans_event -type stamp_event -type tag_stamp_event -type cgroup_event hoptap hoptap.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
