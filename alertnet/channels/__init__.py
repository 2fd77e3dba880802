"""Channel adapters: one module per provider and channel, behind the `ChannelAdapter` protocol."""
