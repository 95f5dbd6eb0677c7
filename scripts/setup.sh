#!/usr/bin/env bash
# Set up everything sslbind and its tests need on a fresh machine of this kind:
# a virtualenv with the project (wheels from ../shared/wheels when the package index is unreachable),
# PowerShell 7 as a dotnet tool, and Pester from NuGet. Idempotent; .ci/run and developers both call it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools="$root/.tools"
# Wheels for machines without the Python package index: $SSLBIND_WHEELS, else the shared folder
# beside the checkout, else the team's shared folder on this machine kind.
wheels=""
for candidate in "${SSLBIND_WHEELS:-}" "$root/../shared/wheels" /work/shared/wheels; do
  if [ -n "$candidate" ] && [ -d "$candidate" ]; then wheels=$candidate; break; fi
done
pwsh_version=7.6.9
pester_version=5.7.1

if [ -n "$wheels" ]; then
  # This machine kind has no Python package index; a user's machine without ../shared uses the index.
  export PIP_NO_INDEX=1 PIP_FIND_LINKS="$(cd "$wheels" && pwd)"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

# The report's browser test drives the system Chromium (Debian package) through playwright.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi

# PowerShell and Pester come through the .NET SDK. Without it the rest still works; CI needs both.
dotnet_missing=""
if ! command -v dotnet >/dev/null 2>&1; then  # pwsh, a dotnet tool, also needs it to run
  if [ "${CI:-}" = true ]; then
    echo "setup: no .NET SDK (dotnet): CI needs it for PowerShell $pwsh_version and Pester $pester_version" >&2
    exit 1
  fi
  dotnet_missing=1
  cat >&2 <<NOTE
note: no .NET SDK (dotnet), so PowerShell $pwsh_version and Pester $pester_version were not installed.
  Works without them: render, record check, import --from-netsh/--from-reg, rotate --spec, report,
  and plan/apply/verify/rollback/doctor against real Windows hosts (they run PowerShell there).
  Needs them: the lab (sslbind lab serve runs pwsh), so every command against the lab and the
  README tour; the PowerShell, Pester and lab tests (scripts/test.sh skips them without pwsh).
  Install the .NET SDK (https://dot.net) and run this again to add them.
NOTE
fi

if [ -z "$dotnet_missing" ] && [ ! -x "$tools/pwsh/pwsh" ]; then
  dotnet tool install PowerShell --version "$pwsh_version" --tool-path "$tools/pwsh" >/dev/null
fi

if [ -z "$dotnet_missing" ] && [ ! -f "$tools/Pester/Pester.psd1" ]; then
  # NuGet has no plain "download a package" verb: a throwaway project's restore fetches it.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cat > "$tmp/fetch.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$pester_version]" /></ItemGroup>
</Project>
XML
  dotnet restore "$tmp/fetch.csproj" --packages "$tmp/pkgs" >/dev/null
  mkdir -p "$tools"
  rm -rf "$tools/Pester"
  cp -r "$tmp/pkgs/pester/$pester_version/tools" "$tools/Pester"
fi

# render --sign and checking a signed record need osslsigncode (a Debian package): install it as root.
if ! command -v osslsigncode >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq osslsigncode >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq osslsigncode >/dev/null; }
  else
    echo "note: osslsigncode missing: render --sign, signed-record checks and their tests need it" >&2
  fi
fi

if [ -n "$dotnet_missing" ]; then
  echo "setup done: .venv (without pwsh and Pester: see the note above)"
else
  echo "setup done: .venv, $tools/pwsh/pwsh ($pwsh_version), $tools/Pester ($pester_version)"
fi
