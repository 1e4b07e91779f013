"""The LLM agent as a package: import what you need from its modules (this file imports none of them).

* :mod:`~ohtui.agent.llm.agent` — :class:`~ohtui.agent.llm.agent.LLMAgent`, registered as ``"llm"``;
* :mod:`~ohtui.agent.llm.client` — :class:`~ohtui.agent.llm.client.ChatClient`, what a model provider offers the
  agent (one chat completion with tools), and the errors it raises;
* :mod:`~ohtui.agent.llm.openai_client` — the OpenAI SDK behind it (OpenAI-compatible endpoints); imported at the
  first request, as it is slow to import. A second provider is one more module like it;
* :mod:`~ohtui.agent.llm.prompt` — the chat messages built from the stored events;
* :mod:`~ohtui.agent.llm.context` — what a step reads of the history: the task, the latest summary, the turns since;
* :mod:`~ohtui.agent.llm.condenser` — older turns replaced by a summary, recorded as a ``condensation`` action;
* :mod:`~ohtui.agent.llm.window` — the model's context window, the token estimate and a request's budget;
* :mod:`~ohtui.agent.llm.tools` — the tools, the system prompt, and tool calls turned into actions;
* :mod:`~ohtui.agent.llm.usage` — the cost and token usage each action carries.

The settings are :class:`ohtui.config.LLMSettings`, in the config layer with the others.
"""
