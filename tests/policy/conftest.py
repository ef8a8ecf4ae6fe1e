"""The policy tier: rule unit tests and the whole program (tests/support's mocks harness) under every rule."""
