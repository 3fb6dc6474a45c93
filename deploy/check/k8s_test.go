package check

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/medcmdb/medcmdb/internal/discovery"
	"github.com/medcmdb/medcmdb/internal/incidents"
)

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// docs splits a multi-document YAML file.
func docs(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(b []byte) []byte {
	var keep [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			keep = append(keep, l)
		}
	}
	return bytes.Join(keep, []byte("\n"))
}

// object returns the typed value for a kind, strict-decoded.
func object(kind string) (any, error) {
	switch kind {
	case "Namespace":
		return &corev1.Namespace{}, nil
	case "Secret":
		return &corev1.Secret{}, nil
	case "ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "Service":
		return &corev1.Service{}, nil
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "Deployment":
		return &appsv1.Deployment{}, nil
	case "DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %q", kind)
}

func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("../kubernetes/*.yaml")
	var kustomizeResources []string
	seen := map[string]any{}
	for _, f := range files {
		base := filepath.Base(f)
		for i, d := range docs(t, f) {
			var h header
			if err := yaml.Unmarshal(d, &h); err != nil {
				t.Fatalf("%s doc %d: %v", base, i, err)
			}
			if h.Kind == "Kustomization" {
				var k struct {
					Resources []string `json:"resources"`
				}
				if err := yaml.Unmarshal(d, &k); err != nil {
					t.Fatalf("%s: %v", base, err)
				}
				kustomizeResources = k.Resources
				continue
			}
			obj, err := object(h.Kind)
			if err != nil {
				t.Errorf("%s doc %d: %v", base, i, err)
				continue
			}
			if err := yaml.UnmarshalStrict(d, obj); err != nil {
				t.Errorf("%s doc %d (%s %s): %v", base, i, h.Kind, h.Metadata.Name, err)
				continue
			}
			if h.Kind != "Namespace" && h.Metadata.Namespace != "medcmdb" {
				t.Errorf("%s: %s %s is not in namespace medcmdb", base, h.Kind, h.Metadata.Name)
			}
			seen[h.Kind+"/"+h.Metadata.Name] = obj
		}
	}
	for _, r := range kustomizeResources {
		if _, err := os.Stat(filepath.Join("../kubernetes", r)); err != nil {
			t.Errorf("kustomization lists missing %s", r)
		}
	}
	var deployments, pdbs int
	for key, obj := range seen {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			deployments++
			checkPodSpec(t, key, o.Spec.Template.Spec)
			for k, v := range o.Spec.Selector.MatchLabels {
				if o.Spec.Template.Labels[k] != v {
					t.Errorf("%s: selector %s=%s does not match the pod template", key, k, v)
				}
			}
		case *policyv1.PodDisruptionBudget:
			pdbs++
		case *corev1.ConfigMap:
			checkEmbeddedConfigs(t, key, o.Data)
		}
	}
	if deployments < 2 || pdbs < 1 {
		t.Errorf("want a cmdb and a collector Deployment and a PodDisruptionBudget; got %d deployments, %d PDBs", deployments, pdbs)
	}
	if _, ok := seen["PodDisruptionBudget/medcmdb-cmdb"]; !ok {
		t.Error("no PodDisruptionBudget for the cmdb")
	}
	// Collectors must stick to one replica (it alone expires their devices).
	if svc, ok := seen["Service/medcmdb-cmdb"].(*corev1.Service); !ok {
		t.Error("no Service medcmdb-cmdb")
	} else if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		t.Errorf("Service medcmdb-cmdb: sessionAffinity %q, want ClientIP so that a collector keeps reporting to one replica", svc.Spec.SessionAffinity)
	}
}

// checkPodSpec insists on what a hospital deployment needs: probes, resources, non-root.
func checkPodSpec(t *testing.T, key string, spec corev1.PodSpec) {
	t.Helper()
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod must run as non-root", key)
	}
	for _, c := range spec.Containers {
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s/%s: readiness and liveness probes are required", key, c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: CPU requests and memory limits are required", key, c.Name)
		}
		for _, e := range c.Env {
			lower := strings.ToLower(e.Name)
			if (strings.Contains(lower, "token") || strings.Contains(lower, "uri") || strings.Contains(lower, "auth") || strings.Contains(lower, "priv") || strings.Contains(lower, "community")) && e.Value != "" {
				t.Errorf("%s/%s: %s must come from a Secret, not a literal", key, c.Name, e.Name)
			}
		}
	}
}

// checkEmbeddedConfigs parses configuration files shipped inside ConfigMaps with the
// product's own strict loaders.
func checkEmbeddedConfigs(t *testing.T, key string, data map[string]string) {
	t.Helper()
	t.Setenv("COLLECTOR_TOKEN", "check-token")
	t.Setenv("SNMP_COMMUNITY", "check-community")
	t.Setenv("SNMP_AUTH", "check-auth-pass")
	t.Setenv("SNMP_PRIV", "check-priv-pass")
	for name, content := range data {
		switch {
		case strings.HasPrefix(name, "collector"):
			if _, err := discovery.ParseConfig([]byte(content)); err != nil {
				t.Errorf("%s %s: %v", key, name, err)
			}
		case name == "policy.yaml":
			if _, err := incidents.ParsePolicy([]byte(content)); err != nil {
				t.Errorf("%s %s: %v", key, name, err)
			}
		}
	}
}
