{{/*
The operator's RBAC rules, shared by the ClusterRole (every namespace) and the Roles (one per
watched namespace). Only the resources and verbs the operator uses; the framework's needs and
the application's needs are separate blocks, as in Kopf's docs/deployment-rbac.yaml.
*/}}

{{/* Kopf itself, in the namespaces it watches. */}}
{{- define "chatbot-operator.rules.frameworkNamespaced" -}}
# Framework: Kopf posts Events about handler progress and errors on the ChatBots; the
# operator's own Events (one per status transition) use the same right.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if and .Values.peering.enabled .Values.watchNamespaces }}
# Framework: Kopf peering, to know which other operator replicas run (namespaced mode).
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end }}

{{/* What the operator does with ChatBots and their children. */}}
{{- define "chatbot-operator.rules.application" -}}
# Application: the ChatBots it reconciles, read only: their spec is the user's. Kopf keeps its
# progress and last-handled spec in status (see handlers.py), so even Kopf never patches the
# main resource: no finalizers, no annotations. get: a fresh read before each status write.
- apiGroups: [chatbot-operator.io]
  resources: [chatbots]
  verbs: [get, list, watch]
# Application: status and conditions, merge-patched; never read through the subresource.
- apiGroups: [chatbot-operator.io]
  resources: [chatbots/status]
  verbs: [patch]
# Application: the children, written by server-side apply (a PATCH that creates when absent)
# and watched so that drift and readiness are seen.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch]
# Application: the bots' pods, watched only: a corpus init container that fails is reported in
# the ChatBot's CorpusSynced condition (the operator never reads one pod, creates or deletes any).
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# Application: Secrets referenced by ChatBots are read (LLM and App Configuration keys, git
# credentials); the Secret of settings resolved from Key Vault is a child like the others.
# No delete anywhere: children go with their ChatBot through the garbage collector.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch]
{{- if .Values.networkPolicy.enabled }}
# Application: the bots' NetworkPolicies (networkPolicy.enabled), children like the others; no
# rights on them at all otherwise.
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch]
{{- end }}
{{- end }}
