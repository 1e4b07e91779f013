// A stock OpenHands V0 client, as the web frontend connects (OPENHANDS_V0.md §6.1): query parameters only,
// websocket transport, `oh_event` in, `oh_user_action` out. Prints one JSON line per received frame, then
// "DONE" once its own message was echoed and the agent answered. Exits 1 on error or timeout.
const { io } = require("socket.io-client");

const [url, conversationId, key] = process.argv.slice(2);
const socket = io(url, {
  transports: ["websocket"],
  path: "/socket.io",
  reconnection: false,
  query: { latest_event_id: -1, conversation_id: conversationId, providers_set: ["github"], session_api_key: key },
});
const timer = setTimeout(() => { console.log("TIMEOUT"); process.exit(1); }, 20000);
let sent = false;
let echoed = false;

socket.on("connect_error", (err) => { console.log(JSON.stringify({ connect_error: err.message })); process.exit(1); });
socket.on("oh_event", (event) => {
  console.log(JSON.stringify(event));
  const waiting = event.observation === "agent_state_changed" && event.extras.agent_state === "awaiting_user_input";
  if (waiting && !sent) {
    sent = true;
    socket.emit("oh_user_action", { action: "message", args: { content: "hello from js", image_urls: [], file_urls: [] } });
  }
  if (event.action === "message" && event.source === "user" && event.args.content === "hello from js") echoed = true;
  if (echoed && event.action === "message" && event.source === "agent") {
    console.log("DONE");
    clearTimeout(timer);
    socket.close();
    process.exit(0);
  }
});
