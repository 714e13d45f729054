"""Performance benchmarks: standalone scripts that print ratios side by side and write JSON to results/."""
