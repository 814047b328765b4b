"""Ingest as small stages — scan, decode, encode, write — passed into a runner."""
