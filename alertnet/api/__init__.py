"""HTTP adapters: aiohttp handlers split by resource. Handlers parse, call one service method, shape."""
