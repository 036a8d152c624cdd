// Package api is the agent's live capture API: the protocol and its
// generated Go code (make generate rebuilds it with Debian's protoc).
package api

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative --plugin=protoc-gen-go=../../.tools/bin/protoc-gen-go --plugin=protoc-gen-go-grpc=../../.tools/bin/protoc-gen-go-grpc capture.proto
