# Sourced by .ci/python-versions and .ci/dependency-bounds.
# supported_pythons: the "Programming Language :: Python :: 3.N" classifiers in pyproject.toml.
# find_python 3.N: the newest installed CPython 3.N (pyenv's first, then python3.N on PATH),
# or nothing.
supported_pythons() {
    sed -n 's/^ *"Programming Language :: Python :: \(3\.[0-9][0-9]*\)",$/\1/p' pyproject.toml
}

find_python() {
    local minor=$1 full candidate
    if command -v pyenv >/dev/null 2>&1; then
        full=$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n1 || true)
        candidate="$(pyenv root)/versions/$full/bin/python$minor"
        if [ -n "$full" ] && [ -x "$candidate" ]; then echo "$candidate"; return; fi
    fi
    if candidate=$(command -v "python$minor") && "$candidate" -c '' >/dev/null 2>&1; then
        echo "$candidate"
    fi
}
