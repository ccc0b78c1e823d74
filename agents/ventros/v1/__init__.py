"""Generated from proto/ by agents/scripts/generate_protos.py; do not edit."""
