// "Gunakan lokasi saya": fills the report form's latitude and longitude from the browser's
// location, where the browser allows it. The form works without it (the fields are typed
// or pasted); nothing is sent anywhere but into the two fields.
(function () {
  'use strict';
  var button = document.getElementById('use-location');
  var status = document.getElementById('location-status');
  if (!button || !('geolocation' in navigator)) {
    return;
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    status.textContent = button.getAttribute('data-wait');
    navigator.geolocation.getCurrentPosition(function (position) {
      document.getElementById('latitude').value = position.coords.latitude.toFixed(6);
      document.getElementById('longitude').value = position.coords.longitude.toFixed(6);
      status.textContent = button.getAttribute('data-done');
    }, function () {
      status.textContent = button.getAttribute('data-failed');
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}());
