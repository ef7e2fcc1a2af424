// "Open original": a cited document's own file, fetched with the token (GET /files/{source}; the
// token never goes in a URL) and opened in a new tab from a blob: URL, a PDF at the cited page.
// The blob's type is chosen here from a short list, not taken from the file: PDF and plain text are
// shown, any other file (HTML included) is saved as application/octet-stream, so a document of the
// seeds folder never becomes a page of this origin. The URL is revoked a minute later.

import { api } from "./api.js";

const SHOWN = { "application/pdf": "application/pdf", "text/plain": "text/plain;charset=utf-8" };
const KEEP_MS = 60000; // time for the new tab to load the blob before its URL is revoked

export async function openOriginal(source, page) {
  const { blob, type } = await api.file(source);
  const shownType = SHOWN[type];
  const url = URL.createObjectURL(new Blob([blob], { type: shownType || "application/octet-stream" }));
  const a = document.createElement("a");
  if (shownType) {
    a.href = shownType === "application/pdf" && page ? `${url}#page=${page}` : url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  } else {
    a.href = url;
    a.download = source.split("/").pop();
  }
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), KEEP_MS);
  return shownType ? "opened" : "saved";
}
