"""Test harness code shared by test modules (not tests themselves)."""
