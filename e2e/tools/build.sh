#!/usr/bin/env bash
# Builds the local control-plane tools from Go modules into a cache outside the clone:
#   ${MLFLEET_CACHE:-$HOME/.cache/mlfleet}/tools/<component>-<version>/
# A component is rebuilt only when its version (e2e/tools/versions.env) changes, so a fresh
# clone on a machine that already has the cache builds nothing. Go's module and build
# caches also live under the cache dir so that a rebuild after a version bump is
# incremental.
#
# Usage: e2e/tools/build.sh [component...]   (components: etcd kubernetes kwok helm; default all)
#        e2e/tools/build.sh --print-paths     (prints NAME=path lines for the built binaries)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${MLFLEET_CACHE:-$HOME/.cache/mlfleet}"
tools="$cache/tools"
# -mod=readonly: go.mod/go.sum are complete and committed; a build never edits the clone.
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS="-mod=readonly" CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

kube_dir="$tools/kubernetes-$KUBE_VERSION"
etcd_dir="$tools/etcd-$ETCD_VERSION"
kwok_dir="$tools/kwok-$KWOK_VERSION"
helm_dir="$tools/helm-$HELM_VERSION"

print_paths() {
  echo "KUBE_APISERVER=$kube_dir/kube-apiserver"
  echo "KUBE_CONTROLLER_MANAGER=$kube_dir/kube-controller-manager"
  echo "KUBE_SCHEDULER=$kube_dir/kube-scheduler"
  echo "KUBECTL=$kube_dir/kubectl"
  echo "ETCD=$etcd_dir/etcd"
  echo "KWOK=$kwok_dir/kwok"
  echo "KWOKCTL=$kwok_dir/kwokctl"
  echo "HELM=$helm_dir/helm"
}

# build_into <dest> <module dir> <tags> <ldflags> <package>...
build_into() {
  local dest="$1" mod="$2" tags="$3" ldflags="$4"
  shift 4
  if [[ -f "$dest/.built" ]]; then
    echo "up to date: $dest"
    return 0
  fi
  command -v go >/dev/null || { echo "error: Go toolchain (>= 1.26) not found in PATH" >&2; exit 1; }
  local tmp="$dest.partial"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local start=$SECONDS
  echo "building $(basename "$dest") ($*) ..."
  (cd "$here/$mod" && go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp/" "$@")
  local took=$((SECONDS - start))
  printf 'built %s in %dm%02ds\n' "$(basename "$dest")" $((took / 60)) $((took % 60))
  echo "$took" >"$tmp/.build-seconds"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$tmp/.built"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

build_etcd() {
  build_into "$etcd_dir" etcd "" "-s -w" go.etcd.io/etcd/server/v3
  # The package is the module root, so `go build` names the binary after the module path
  # without its major-version suffix ("server"); give it its real name.
  if [[ -f "$etcd_dir/server" ]]; then mv "$etcd_dir/server" "$etcd_dir/etcd"; fi
}

build_kubernetes() {
  local v="$KUBE_VERSION" major minor date ld="-s -w" pkg
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  build_into "$kube_dir" kubernetes "selinux,notest" "$ld" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

build_kwok() {
  local ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
  ld+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
  build_into "$kwok_dir" kwok "" "$ld" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
}

build_helm() {
  # helm reports the Kubernetes version of the client libraries it was built with as
  # .Capabilities.KubeVersion when it has no cluster; derive it from its go.mod.
  local cg kmaj=1 kmin ld
  cg="$(sed -n 's#^\s*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$here/helm/go.mod" | head -1)"
  kmin="${cg:-36}"
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ld+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$kmaj -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kmin"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$kmaj -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kmin"
  build_into "$helm_dir" helm "" "$ld" helm.sh/helm/v3/cmd/helm
}

if [[ "${1:-}" == "--print-paths" ]]; then
  print_paths
  exit 0
fi

components=("$@")
if [[ ${#components[@]} -eq 0 ]]; then components=(etcd kubernetes kwok helm); fi
total_start=$SECONDS
for c in "${components[@]}"; do
  case "$c" in
    etcd | kubernetes | kwok | helm) "build_$c" ;;
    *) echo "unknown component: $c (want etcd, kubernetes, kwok or helm)" >&2; exit 2 ;;
  esac
done
took=$((SECONDS - total_start))
printf 'tools ready under %s (this run took %dm%02ds)\n' "$tools" $((took / 60)) $((took % 60))
