// vigil-render: a test-only, offline stand-in for `helm template`.
//
// There is no helm binary on the build machines, so tests/k8s/run renders the
// chart with the two engines Helm itself uses, Go's text/template and sprig,
// and re-implements the small part of Helm's engine the chart relies on:
//
//   - values: the chart's values.yaml coalesced with each -f file in order
//     (maps merge, anything else replaces, null deletes a key), numbers as
//     float64 as Helm's YAML->JSON reading makes them;
//   - objects: .Values .Release .Chart .Capabilities .Template .Files (Get,
//     GetBytes, Lines; the chart's files less templates/, charts/, Chart.yaml,
//     values*, and what .helmignore names), and Chart.yaml's kubeVersion
//     checked against --kube-version;
//   - dependencies: each entry of Chart.yaml's `dependencies:` must be in
//     charts/<name> (a directory or a symlink to one, as `helm dependency
//     build` or a committed link leaves it), with a version its constraint
//     admits; library charts only (type: library): their partials join the
//     template set, so `include` reaches across charts, and their values.yaml
//     is coalesced under .Values.<name> with .Values.global, as Helm does;
//   - functions: sprig's text functions without env/expandenv, plus include,
//     tpl, required, toYaml, fromYaml, fromYamlArray, toJson, fromJson,
//     fromJsonArray, lookup (always empty);
//   - output: every non-partial template under templates/ (hooks included),
//     each as "---\n# Source: <chart>/templates/<file>", empty ones dropped;
//     NOTES.txt rendered apart (--notes FILE);
//   - "missingkey=zero" and the "<no value>" scrub, as Helm does.
//
// Keep the chart within this list: a function Helm has and this renderer
// lacks fails here with "function not defined", which is the point.
//
// Values are NOT checked against values.schema.json here (Helm does that
// before rendering): tests/k8s/check.js does it with --values-json output, so
// that the schema and the templates' own `fail`/`required` guards are tested
// each on their own.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// chartMeta mirrors the fields of Helm's chart.Metadata that templates read.
type chartMeta struct {
	APIVersion   string       `yaml:"apiVersion"`
	Dependencies []dependency `yaml:"dependencies"`
	Name         string       `yaml:"name"`
	Version      string       `yaml:"version"`
	AppVersion   string       `yaml:"appVersion"`
	Description  string       `yaml:"description"`
	Type         string       `yaml:"type"`
	KubeVersion  string       `yaml:"kubeVersion"`
	Home         string       `yaml:"home"`
}

// dependency mirrors an entry of Chart.yaml's dependencies.
type dependency struct {
	Name       string `yaml:"name" json:"name"`
	Version    string `yaml:"version" json:"version"`
	Repository string `yaml:"repository" json:"repository"`
	Alias      string `yaml:"alias" json:"alias"`
	Condition  string `yaml:"condition" json:"condition"`
}

// files is .Files: the chart's non-template files by path.
type files map[string][]byte

func (f files) GetBytes(name string) []byte { return f[name] }
func (f files) Get(name string) string      { return string(f[name]) }
func (f files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

type kubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k kubeVersion) String() string { return k.Version }

type apiVersions []string

// Has reports whether an API version ("monitoring.coreos.com/v1") or a
// version/kind ("monitoring.coreos.com/v1/ServiceMonitor") is available.
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions apiVersions
}

type release struct {
	Name      string
	Namespace string
	Service   string
	IsInstall bool
	IsUpgrade bool
	Revision  int
}

type templateInfo struct {
	Name     string
	BasePath string
}

func main() {
	var valueFiles, apis stringList
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kube := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	valuesOut := flag.String("values-json", "", "write the coalesced values as JSON to this file")
	notesOut := flag.String("notes", "", "write the rendered NOTES.txt to this file")
	flag.Var(&valueFiles, "f", "values file (repeatable, later wins)")
	flag.Var(&apis, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fmt.Fprintln(os.Stderr, "usage: vigil-render --chart DIR [-f values.yaml]... [--name R] [--namespace NS] [--kube-version v1.30.0]")
		os.Exit(64)
	}
	if err := run(*chartDir, valueFiles, *name, *namespace, *kube, apis, *valuesOut, *notesOut); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(chartDir string, valueFiles []string, name, namespace, kube string, apis []string, valuesOut, notesOut string) error {
	var meta chartMeta
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return fmt.Errorf("Chart.yaml: %w", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		return errors.New("Chart.yaml: apiVersion v2, name and version are required")
	}

	values, err := readValues(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range valueFiles {
		user, err := readValues(f)
		if err != nil {
			return err
		}
		values = coalesce(user, values)
	}
	deps, err := loadDependencies(chartDir, meta)
	if err != nil {
		return err
	}
	for _, d := range deps {
		// As Helm's coalesceDeps: the dependency's values under its name,
		// the parent's globals copied in.
		sub, _ := values[d.meta.Name].(map[string]interface{})
		if v, ok := values[d.meta.Name]; ok && sub == nil && v != nil {
			return fmt.Errorf("type mismatch on %s: %v", d.meta.Name, v)
		}
		if sub == nil {
			sub = map[string]interface{}{}
		}
		sub = coalesce(sub, d.values)
		if g, ok := values["global"].(map[string]interface{}); ok {
			sub["global"] = coalesce(g, mapOr(sub["global"]))
		} else if _, ok := sub["global"]; !ok {
			sub["global"] = map[string]interface{}{}
		}
		values[d.meta.Name] = sub
	}
	if _, ok := values["global"]; !ok && len(deps) > 0 {
		values["global"] = map[string]interface{}{}
	}
	if valuesOut != "" {
		js, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(valuesOut, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}

	kv, err := parseKubeVersion(kube)
	if err != nil {
		return err
	}
	// As Helm: a chart's kubeVersion constraint must admit the cluster's.
	if meta.KubeVersion != "" {
		semverCompare := sprig.TxtFuncMap()["semverCompare"].(func(string, string) (bool, error))
		okVersion, err := semverCompare(meta.KubeVersion, kv.Version)
		if err != nil {
			return fmt.Errorf("Chart.yaml kubeVersion: %w", err)
		}
		if !okVersion {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", meta.KubeVersion, kv.Version)
		}
	}
	// The built-in API versions a chart here may look for; CRDs such as
	// monitoring.coreos.com/v1 only with --api-versions, as with helm template.
	caps := capabilities{KubeVersion: kv, APIVersions: append(apiVersions{"v1", "apps/v1", "policy/v1", "networking.k8s.io/v1"}, apis...)}
	chartFiles, err := loadFiles(chartDir)
	if err != nil {
		return err
	}
	top := map[string]interface{}{
		"Values":       values,
		"Chart":        meta,
		"Release":      release{Name: name, Namespace: namespace, Service: "Helm", IsInstall: true, Revision: 1},
		"Capabilities": caps,
		"Files":        chartFiles,
	}

	// Load every file under templates/, named as Helm names them.
	templatesDir := filepath.Join(chartDir, "templates")
	var files []string
	err = filepath.Walk(templatesDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)

	root := template.New("gotpl")
	includedNames := map[string]int{}
	root.Funcs(funcMap(root, includedNames))
	root.Option("missingkey=zero")
	names := make([]string, 0, len(files))
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		tname := filepath.ToSlash(filepath.Join(meta.Name, rel))
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := root.New(tname).Parse(string(src)); err != nil {
			return fmt.Errorf("parse %s: %w", tname, err)
		}
		names = append(names, tname)
	}
	// A library dependency's partials, named as Helm names them
	// (<chart>/charts/<dep>/templates/_x.tpl); nothing of it is rendered.
	for _, d := range deps {
		for _, t := range d.templates {
			tname := filepath.ToSlash(filepath.Join(meta.Name, "charts", d.meta.Name, "templates", t.rel))
			if _, err := root.New(tname).Parse(t.src); err != nil {
				return fmt.Errorf("parse %s: %w", tname, err)
			}
		}
	}

	basePath := meta.Name + "/templates"
	var out bytes.Buffer
	for _, tname := range names {
		base := filepath.Base(tname)
		if strings.HasPrefix(base, "_") {
			continue // partials
		}
		isNotes := base == "NOTES.txt"
		vals := copyTop(top, templateInfo{Name: tname, BasePath: basePath})
		var buf strings.Builder
		if err := root.ExecuteTemplate(&buf, tname, vals); err != nil {
			return cleanupErr(err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if isNotes {
			if notesOut != "" {
				if err := os.WriteFile(notesOut, []byte(text), 0o644); err != nil {
					return err
				}
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s", tname, strings.TrimLeft(text, "\n"))
		if !strings.HasSuffix(text, "\n") {
			out.WriteByte('\n')
		}
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

type loadedDep struct {
	meta      chartMeta
	values    map[string]interface{}
	templates []depTemplate
}

type depTemplate struct{ rel, src string }

func mapOr(v interface{}) map[string]interface{} {
	if m, ok := v.(map[string]interface{}); ok {
		return m
	}
	return map[string]interface{}{}
}

// loadDependencies finds every dependency of Chart.yaml in charts/<name>,
// as Helm does after `helm dependency build` (or through a symlink), and
// checks its name, version constraint and type.
func loadDependencies(chartDir string, meta chartMeta) ([]loadedDep, error) {
	semverCompare := sprig.TxtFuncMap()["semverCompare"].(func(string, string) (bool, error))
	var out []loadedDep
	for _, d := range meta.Dependencies {
		if d.Name == "" || d.Version == "" || d.Repository == "" {
			return nil, fmt.Errorf("Chart.yaml: dependency %q needs name, version and repository", d.Name)
		}
		if d.Alias != "" || d.Condition != "" {
			return nil, fmt.Errorf("dependency %s: alias and condition are not emulated here", d.Name)
		}
		dir := filepath.Join(chartDir, "charts", d.Name)
		raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
		if err != nil {
			return nil, fmt.Errorf("found in Chart.yaml, but missing in charts/ directory: %s (%v)", d.Name, err)
		}
		var dm chartMeta
		if err := yaml.Unmarshal(raw, &dm); err != nil {
			return nil, fmt.Errorf("%s/Chart.yaml: %w", dir, err)
		}
		if dm.APIVersion != "v2" || dm.Name != d.Name {
			return nil, fmt.Errorf("%s: Chart.yaml has apiVersion %q name %q, want v2 and %q", dir, dm.APIVersion, dm.Name, d.Name)
		}
		okVersion, err := semverCompare(d.Version, dm.Version)
		if err != nil || !okVersion {
			return nil, fmt.Errorf("dependency %s: version %s does not satisfy %q", d.Name, dm.Version, d.Version)
		}
		if dm.Type != "library" {
			return nil, fmt.Errorf("dependency %s: only library charts are emulated (type is %q)", d.Name, dm.Type)
		}
		if strings.HasPrefix(d.Repository, "file://") {
			// The repository path must lead to the same chart as charts/<name>.
			want, err1 := filepath.EvalSymlinks(filepath.Join(chartDir, strings.TrimPrefix(d.Repository, "file://")))
			have, err2 := filepath.EvalSymlinks(dir)
			if err1 != nil || err2 != nil || want != have {
				return nil, fmt.Errorf("dependency %s: repository %s is not the chart in %s", d.Name, d.Repository, dir)
			}
		}
		ld := loadedDep{meta: dm, values: map[string]interface{}{}}
		if _, err := os.Stat(filepath.Join(dir, "values.yaml")); err == nil {
			if ld.values, err = readValues(filepath.Join(dir, "values.yaml")); err != nil {
				return nil, err
			}
		}
		tdir := filepath.Join(dir, "templates")
		entries, err := os.ReadDir(tdir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			// Helm keeps only the partials of a library chart.
			if e.IsDir() || !strings.HasPrefix(e.Name(), "_") {
				continue
			}
			src, err := os.ReadFile(filepath.Join(tdir, e.Name()))
			if err != nil {
				return nil, err
			}
			ld.templates = append(ld.templates, depTemplate{rel: e.Name(), src: string(src)})
		}
		out = append(out, ld)
	}
	return out, nil
}

// loadFiles reads .Files: every file of the chart but templates/, charts/,
// Chart.yaml, Chart.lock, values.yaml, values.schema.json and what
// .helmignore names (simple patterns: "dir/", globs on the base name or the
// relative path).
func loadFiles(chartDir string) (files, error) {
	var ignore []string
	if raw, err := os.ReadFile(filepath.Join(chartDir, ".helmignore")); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				ignore = append(ignore, l)
			}
		}
	}
	ignored := func(rel string, dir bool) bool {
		for _, p := range ignore {
			if strings.HasSuffix(p, "/") {
				if dir && (rel == strings.TrimSuffix(p, "/") || filepath.Base(rel) == strings.TrimSuffix(p, "/")) {
					return true
				}
				continue
			}
			if m, _ := filepath.Match(p, filepath.Base(rel)); m {
				return true
			}
			if m, _ := filepath.Match(p, rel); m {
				return true
			}
		}
		return false
	}
	out := files{}
	err := filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if info.IsDir() {
			if rel == "templates" || rel == "charts" || ignored(rel, true) {
				return filepath.SkipDir
			}
			return nil
		}
		switch rel {
		case "Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json", ".helmignore":
			return nil
		}
		if ignored(rel, false) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	return out, err
}

func copyTop(top map[string]interface{}, t templateInfo) map[string]interface{} {
	m := make(map[string]interface{}, len(top)+1)
	for k, v := range top {
		m[k] = v
	}
	m["Template"] = t
	return m
}

// cleanupErr keeps the template location and the message of a `fail` or
// `required`, as Helm prints them.
func cleanupErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "error calling fail: "); i >= 0 {
		return fmt.Errorf("execution error: %s", msg[i+len("error calling fail: "):])
	}
	if i := strings.Index(msg, "error calling required: "); i >= 0 {
		return fmt.Errorf("execution error: %s", msg[i+len("error calling required: "):])
	}
	return err
}

func parseKubeVersion(v string) (kubeVersion, error) {
	s := strings.TrimPrefix(v, "v")
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return kubeVersion{}, fmt.Errorf("bad --kube-version %q", v)
	}
	if len(parts) == 2 {
		s += ".0"
	}
	return kubeVersion{Version: "v" + s, Major: parts[0], Minor: parts[1], GitVersion: "v" + s}, nil
}

// readValues reads a YAML file the way Helm does: YAML -> JSON -> Go, so
// every number is a float64 and every map a map[string]interface{}.
func readValues(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v interface{}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v == nil {
		return map[string]interface{}{}, nil
	}
	v, err = jsonRoundTrip(normalize(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: top level is not a map", path)
	}
	return m, nil
}

func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []interface{}:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	}
	return v
}

func jsonRoundTrip(v interface{}) (interface{}, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(js, &out)
	return out, err
}

// coalesce merges src (user values) over dst (defaults) like Helm's
// chartutil.CoalesceTables: maps merge recursively, a null in src deletes
// the key, anything else in src replaces.
func coalesce(src, dst map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(dst))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := out[k].(map[string]interface{})
		if sok && dok {
			out[k] = coalesce(sm, dm)
		} else {
			out[k] = v
		}
	}
	return out
}

func funcMap(root *template.Template, includedNames map[string]int) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the machine's environment.
	delete(f, "env")
	delete(f, "expandenv")

	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["fromYamlArray"] = fromYAMLArray
	f["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(msg)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(msg)
		}
		return val, nil
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = includeFun(root, includedNames)
	f["tpl"] = tplFun(root, includedNames)
	return f
}

const recursionMaxNums = 1000

func includeFun(t *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if v, ok := includedNames[name]; ok {
			if v > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			includedNames[name]++
		} else {
			includedNames[name] = 1
		}
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
}

func tplFun(parent *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(text string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %w", err)
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{
			"include": includeFun(t, includedNames),
			"tpl":     tplFun(t, includedNames),
		})
		t, err = t.New(parent.Name()).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// toYAML matches Helm's: marshal through JSON (sorted keys, Helm's number
// forms), two-space indent, trailing newline trimmed; "" on error.
func toYAML(v interface{}) string {
	js, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var node yaml.Node
	if err := yaml.Unmarshal(js, &node); err != nil {
		return ""
	}
	clearStyle(&node)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return ""
	}
	_ = enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

// clearStyle turns the flow style of the parsed JSON into block style.
func clearStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		n.Style = 0 // the encoder quotes again where plain would change the type
	}
	for _, c := range n.Content {
		clearStyle(c)
	}
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	var v interface{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		m["Error"] = err.Error()
		return m
	}
	v, err := jsonRoundTrip(normalize(v))
	if err != nil {
		m["Error"] = err.Error()
		return m
	}
	if mm, ok := v.(map[string]interface{}); ok {
		return mm
	}
	return m
}

func toJSON(v interface{}) string {
	js, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(js)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

func fromYAMLArray(s string) []interface{} {
	var v interface{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return []interface{}{err.Error()}
	}
	v, err := jsonRoundTrip(normalize(v))
	if err != nil {
		return []interface{}{err.Error()}
	}
	a, _ := v.([]interface{})
	return a
}
