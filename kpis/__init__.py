"""KPI state and definitions: what is counted per time bucket and how the KPIs are computed from it."""
