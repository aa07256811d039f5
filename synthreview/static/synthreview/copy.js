// "Copy" buttons beside a one-time secret: data-copy names the input to copy from.
// Without a clipboard (an insecure origin) the input is selected for the user to copy.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  const status = document.querySelector(`[data-copy-status="${button.dataset.copy}"]`);
  if (!input) return;
  input.focus();
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    if (status) status.textContent = "Copied. Keep it in your secret store: this page will not show it again.";
  } catch {
    if (status) status.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy it.";
  }
});
