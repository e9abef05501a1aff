# shadowscan's five-minute quickstart. The README quotes these lines verbatim and
# tests/cli.rs runs them in order against the built binary, so they cannot drift apart.
# `diff` exits 1: it found drift (a shadow endpoint), which is the point.
shadowscan demo --db demo.db --write-spec shop-api.yaml
shadowscan diff shop-api.yaml --db demo.db --service shop/shop-api-express4
shadowscan report --db demo.db --output report.html
