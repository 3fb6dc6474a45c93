// Package check validates the deployment artefacts under deploy/ without a container
// engine or a cluster: Kubernetes manifests against the API types (strict decoding),
// the compose file against the compose specification, the Dockerfile with BuildKit's
// parser, and every embedded medcmdb configuration with medcmdb's own loaders.
//
// It is its own module so that the Kubernetes and compose libraries stay out of the
// product's dependencies. Run it with: (cd deploy/check && go test ./...)
package check
