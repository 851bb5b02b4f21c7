// Times on support pages in the staff member's own time zone (the server renders UTC).
"use strict";
for (const element of document.querySelectorAll("time.local")) {
  const when = new Date(element.getAttribute("datetime"));
  if (!Number.isNaN(when.getTime())) {
    element.title = element.textContent;
    element.textContent = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
}
