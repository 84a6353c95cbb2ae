"""The planning domain: plain models and rules, no infrastructure."""
