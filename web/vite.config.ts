// The web app is served by the API (same origin, so the API's session routes and the WebSocket
// work without CORS); in development Vite proxies /api to a running API.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true },
  server: {
    proxy: {
      "/api": { target: process.env.VENTROS_API_URL ?? "http://127.0.0.1:8080", ws: true },
    },
  },
  test: { environment: "node" },
});
