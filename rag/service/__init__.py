"""rag as a service: the HTTP API (`rag serve`), the MCP server (`rag mcp`) and watch mode."""
