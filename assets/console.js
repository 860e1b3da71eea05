// Copy buttons: <button data-copy="element-id">, and file pickers that
// load a small text file into a text area: <input type="file"
// data-load-into="element-id">. Everything else in the console works
// without JavaScript (the text area takes a pasted file as well).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  navigator.clipboard.writeText(text.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

document.addEventListener("change", (event) => {
  const input = event.target.closest("input[type=file][data-load-into]");
  if (!input || !input.files || input.files.length === 0) return;
  const target = document.getElementById(input.dataset.loadInto);
  if (!target) return;
  input.files[0].text().then((text) => { target.value = text.trim(); });
});
